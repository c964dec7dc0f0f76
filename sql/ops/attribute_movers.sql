-- The one definition of "biggest mover" (the trend report's chart, the web app's trend page and
-- the API's /trends): each attribute's mean share over the first third of the periods against
-- the last third (at least one period each, so that one noisy month does not pick the mover),
-- most moved first. A period where an attribute has no row counts as 0%.
-- Input: a relation `shares` with attribute_share's columns period, attribute, share (0..1).
WITH periods AS (
    SELECT period, row_number() OVER (ORDER BY period) AS i, count(*) OVER () AS n
    FROM (SELECT DISTINCT period FROM shares)
), attributes AS (
    SELECT DISTINCT attribute FROM shares
), filled AS (
    SELECT a.attribute, p.i, p.n, coalesce(sum(s.share), 0) * 100 AS pct
    FROM attributes AS a
    CROSS JOIN periods AS p
    LEFT JOIN shares AS s ON s.attribute = a.attribute AND s.period = p.period
    GROUP BY a.attribute, p.i, p.n
), windowed AS (
    SELECT *, greatest(1, n // 3) AS w FROM filled
)
SELECT attribute,
       avg(pct) FILTER (WHERE i <= w) AS first_pct,
       avg(pct) FILTER (WHERE i > n - w) AS last_pct,
       last_pct - first_pct AS change_points,
       any_value(w) AS periods
FROM windowed
WHERE n >= 2
GROUP BY attribute
ORDER BY abs(change_points) DESC, attribute;
