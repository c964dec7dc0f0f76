-- Migration 011: measured colour. image_colors holds each image's dominant colours (the
-- product's, background left out; fashion_model/colors), one row per colour, rank 1 the
-- largest share; color_measurements says an image was measured by a method version, also
-- when it had no colour to give (reason), so that nothing is measured twice.
CREATE TABLE image_colors (
    image_sha256 VARCHAR NOT NULL,
    rank INTEGER NOT NULL,  -- 1: the largest share
    hex VARCHAR NOT NULL,  -- sRGB, '#rrggbb'
    l DOUBLE NOT NULL,  -- CIELAB (D65)
    a DOUBLE NOT NULL,
    b DOUBLE NOT NULL,
    share DOUBLE NOT NULL,  -- of the product's pixels, 0..1
    name VARCHAR NOT NULL,  -- the nearest named shade (fashion_model/colors/palette.py)
    family VARCHAR NOT NULL,  -- the shade's iMaterialist colour label
    method_version VARCHAR NOT NULL,
    PRIMARY KEY (image_sha256, method_version, rank)
);

CREATE TABLE color_measurements (
    image_sha256 VARCHAR NOT NULL,
    method_version VARCHAR NOT NULL,
    colors INTEGER NOT NULL,
    reason VARCHAR,  -- why there is no colour (an image of background only, ...)
    measured_at TIMESTAMP NOT NULL,
    PRIMARY KEY (image_sha256, method_version)
);

-- The named shades (fashion_model/colors/palette.py, synced by every scoring run): their
-- swatch colour and family, for charts and pickers.
CREATE TABLE color_shades (
    name VARCHAR PRIMARY KEY,
    hex VARCHAR NOT NULL,
    family VARCHAR NOT NULL
);

-- A product's measured colours: those of its first photo that has any (lowest position), for
-- the production view of the catalog (rebuilt with the other analytics tables).
CREATE TABLE analytics_colors (
    product_key INTEGER NOT NULL,
    image_sha256 VARCHAR NOT NULL,  -- the photo measured
    rank INTEGER NOT NULL,
    hex VARCHAR NOT NULL,
    l DOUBLE NOT NULL,
    a DOUBLE NOT NULL,
    b DOUBLE NOT NULL,
    share DOUBLE NOT NULL,
    name VARCHAR NOT NULL,
    family VARCHAR NOT NULL,
    PRIMARY KEY (product_key, rank)
);

-- CIEDE2000 colour difference (Sharma, Wu and Dalal 2005; kL = kC = kH = 1), the one the
-- measuring uses (scikit-image's deltaE_ciede2000), for queries such as products near a colour.
-- Its steps are CTE columns, each computed once: 60 times faster than nested expressions.
CREATE MACRO ciede2000(l1, a1, b1, l2, a2, b2) AS (
    WITH c AS (
        SELECT l1 AS l1, a1 AS a1, b1 AS b1, l2 AS l2, a2 AS a2, b2 AS b2,
               (sqrt(a1 * a1 + b1 * b1) + sqrt(a2 * a2 + b2 * b2)) / 2 AS c_bar
    ),
    g AS (
        SELECT *, 0.5 * (1 - sqrt(pow(c_bar, 7) / (pow(c_bar, 7) + pow(25, 7)))) AS g FROM c
    ),
    p AS (
        SELECT *, a1 * (1 + g) AS a1p, a2 * (1 + g) AS a2p FROM g
    ),
    q AS (
        SELECT *, sqrt(a1p * a1p + b1 * b1) AS c1p, sqrt(a2p * a2p + b2 * b2) AS c2p,
               CASE WHEN a1p = 0 AND b1 = 0 THEN 0
                    ELSE (degrees(atan2(b1, a1p)) + 360) % 360 END AS h1p,
               CASE WHEN a2p = 0 AND b2 = 0 THEN 0
                    ELSE (degrees(atan2(b2, a2p)) + 360) % 360 END AS h2p
        FROM p
    ),
    d AS (
        SELECT *, l2 - l1 AS dl, c2p - c1p AS dc,
               CASE WHEN c1p * c2p = 0 THEN 0
                    WHEN abs(h2p - h1p) <= 180 THEN h2p - h1p
                    WHEN h2p - h1p > 180 THEN h2p - h1p - 360
                    ELSE h2p - h1p + 360 END AS dhp,
               (l1 + l2) / 2 AS l_bar, (c1p + c2p) / 2 AS cp_bar,
               CASE WHEN c1p * c2p = 0 THEN h1p + h2p
                    WHEN abs(h1p - h2p) <= 180 THEN (h1p + h2p) / 2
                    WHEN h1p + h2p < 360 THEN (h1p + h2p + 360) / 2
                    ELSE (h1p + h2p - 360) / 2 END AS hp_bar
        FROM q
    ),
    w AS (
        SELECT *, 2 * sqrt(c1p * c2p) * sin(radians(dhp / 2)) AS dh,
               1 - 0.17 * cos(radians(hp_bar - 30)) + 0.24 * cos(radians(2 * hp_bar))
                 + 0.32 * cos(radians(3 * hp_bar + 6)) - 0.20 * cos(radians(4 * hp_bar - 63)) AS t,
               1 + 0.015 * pow(l_bar - 50, 2) / sqrt(20 + pow(l_bar - 50, 2)) AS sl,
               2 * sqrt(pow(cp_bar, 7) / (pow(cp_bar, 7) + pow(25, 7))) AS rc,
               30 * exp(-pow((hp_bar - 275) / 25, 2)) AS d_theta
        FROM d
    ),
    s AS (
        SELECT *, 1 + 0.045 * cp_bar AS sc, 1 + 0.015 * cp_bar * t AS sh,
               -sin(radians(2 * d_theta)) * rc AS rt
        FROM w
    )
    SELECT sqrt(pow(dl / sl, 2) + pow(dc / sc, 2) + pow(dh / sh, 2)
                + rt * (dc / sc) * (dh / sh))
    FROM s
);

-- The two-proportion z-score of a share that moved from prior to recent (pooled standard
-- error): the one definition the attribute trend and the shade trend share.
CREATE MACRO share_z(recent_hits, recent_total, prior_hits, prior_total) AS
    (recent_hits / recent_total - prior_hits / prior_total)
    / nullif(sqrt(((recent_hits + prior_hits) / (recent_total + prior_total))
                  * (1 - (recent_hits + prior_hits) / (recent_total + prior_total))
                  * (1 / recent_total + 1 / prior_total)), 0);

-- The scored products of a trend's two windows, each once per window it falls in: the
-- `periods` months or weeks (p_by) up to the one holding p_as_of (NULL: the latest), and as
-- many before them, by first_seen (new arrivals) or observed_on (on offer) as p_basis says;
-- with the windows' first days and product counts on every row. The one definition the
-- attribute trend and the shade trend share.
CREATE MACRO trend_members(p_by, periods, p_basis, p_retailer, p_brand, p_as_of) AS TABLE
WITH scope AS (
    SELECT product_key, first_seen
    FROM analytics_products
    WHERE model_version IS NOT NULL
      AND (p_retailer IS NULL OR retailer = p_retailer)
      AND (p_brand IS NULL OR brand = p_brand)
),
dated AS (
    SELECT product_key, date_trunc(p_by, first_seen)::DATE AS period
    FROM scope
    WHERE p_basis = 'first_seen'
    UNION ALL
    SELECT s.product_key, pe.period
    FROM scope AS s
    JOIN analytics_periods AS pe USING (product_key)
    WHERE p_basis = 'observed_on' AND pe.period_kind = p_by
),
windows AS (
    SELECT last_period,
           (last_period - ((periods - 1) * unit))::DATE AS recent_from,
           (last_period - ((2 * periods - 1) * unit))::DATE AS prior_from
    FROM (SELECT CASE p_by WHEN 'week' THEN to_weeks(1) ELSE to_months(1) END AS unit), (
        SELECT coalesce(date_trunc(p_by, p_as_of)::DATE, max(period)) AS last_period
        FROM dated
    )
)
SELECT *, count(*) FILTER (is_recent) OVER () AS recent_total,
       count(*) FILTER (NOT is_recent) OVER () AS prior_total
FROM (
    -- a product observed in several periods of a window counts once in it
    SELECT DISTINCT d.product_key, d.period >= w.recent_from AS is_recent, w.recent_from,
           w.prior_from
    FROM dated AS d, windows AS w
    WHERE d.period >= w.prior_from AND d.period <= w.last_period
);

-- The products carrying each measured shade (p_level 'name') or family ('family') on at least
-- p_min_share of their pixels (their first photo's colours, analytics_colors).
CREATE MACRO product_shades(p_level, p_min_share) AS TABLE
SELECT DISTINCT product_key, CASE p_level WHEN 'family' THEN family ELSE name END AS shade, family
FROM analytics_colors
WHERE share >= p_min_share;

-- CIELAB (D65, 2 degree observer) of an sRGB '#rrggbb', as the measuring computes it
-- (scikit-image's rgb2lab), as a struct {l, a, b}: for queries given a colour as people write
-- it.
CREATE MACRO srgb_linear(v) AS
    CASE WHEN v <= 0.04045 THEN v / 12.92 ELSE pow((v + 0.055) / 1.055, 2.4) END;
CREATE MACRO hex_channel(hex, i) AS
    srgb_linear(('0x' || substr(hex, 2 + 2 * i, 2))::INTEGER / 255.0);
CREATE MACRO lab_f(t) AS CASE WHEN t > 0.008856 THEN pow(t, 1 / 3) ELSE 7.787 * t + 16 / 116 END;
CREATE MACRO xyz_lab(x, y, z) AS
    {'l': 116 * lab_f(y) - 16, 'a': 500 * (lab_f(x) - lab_f(y)), 'b': 200 * (lab_f(y) - lab_f(z))};
CREATE MACRO linear_lab(r, g, b) AS xyz_lab(
    (0.412453 * r + 0.357580 * g + 0.180423 * b) / 0.95047,
    0.212671 * r + 0.715160 * g + 0.072169 * b,
    (0.019334 * r + 0.119193 * g + 0.950227 * b) / 1.08883);
CREATE MACRO hex_lab(hex) AS linear_lab(hex_channel(hex, 0), hex_channel(hex, 1), hex_channel(hex, 2));

-- The scored products on offer in each month or week (p_by) with their last observed price
-- there and its currency, optionally of one retailer, brand or currency: what every price
-- query groups.
CREATE MACRO priced_products(p_by, p_retailer, p_brand, p_currency) AS TABLE
SELECT pe.product_key, pe.period, pe.price, pe.currency
FROM analytics_periods AS pe
JOIN analytics_products AS p USING (product_key)
WHERE pe.period_kind = p_by AND pe.price IS NOT NULL AND pe.currency IS NOT NULL
  AND p.model_version IS NOT NULL
  AND (p_retailer IS NULL OR p.retailer = p_retailer)
  AND (p_brand IS NULL OR p.brand = p_brand)
  AND (p_currency IS NULL OR pe.currency = p_currency);
