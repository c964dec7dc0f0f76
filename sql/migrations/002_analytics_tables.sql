-- Migration 002: analytics tables, rebuilt from the warehouse at the end of every scoring run
-- by sql/load/refresh_analytics.sql, so that the shipped queries join small integer keys
-- instead of (retailer, product_id) strings, and stay under a second at a million products.
-- They hold the production model's view of the catalog. `product_attributes` and
-- `scored_products` keep their names and columns and now read from them.

DROP VIEW product_attributes;
DROP VIEW scored_products;

-- Every catalog product with a dense integer key; model_version is the production model when
-- it scored at least one of the product's images, else NULL.
CREATE TABLE analytics_products (
    product_key   INTEGER NOT NULL,
    retailer      VARCHAR NOT NULL,
    product_id    VARCHAR NOT NULL,
    brand         VARCHAR,
    first_seen    DATE,
    last_seen     DATE,
    price         DOUBLE,
    currency      VARCHAR,
    model_version VARCHAR
);

-- The production model's predicted labels per product (a label's highest score over the
-- product's images), sorted by label so that a task's labels are read from few row groups.
CREATE TABLE analytics_labels (
    product_key INTEGER NOT NULL,
    label_id    INTEGER NOT NULL,
    score       FLOAT NOT NULL
);

-- The weeks and months in which a product was observed on offer (from product_observations),
-- with its average observed price there.
CREATE TABLE analytics_periods (
    product_key INTEGER NOT NULL,
    period_kind VARCHAR NOT NULL,   -- 'week' or 'month'
    period      DATE NOT NULL,      -- the period's first day (weeks start on Monday)
    price       DOUBLE,
    currency    VARCHAR
);

-- Pre-aggregated shares: products per (basis, period, retailer, brand, label), label_id NULL
-- being all scored products of the cell (the denominator). basis 'first_seen' counts a product
-- in the period it arrived, 'observed_on' in every period it was observed on offer. Sums over
-- retailers and brands are exact, since a product has one retailer and one brand.
CREATE TABLE analytics_share_counts (
    basis       VARCHAR NOT NULL,   -- 'first_seen' or 'observed_on'
    period_kind VARCHAR NOT NULL,   -- 'week' or 'month'
    period      DATE NOT NULL,
    retailer    VARCHAR NOT NULL,
    brand       VARCHAR,
    label_id    INTEGER,
    products    BIGINT NOT NULL
);

-- Labels whose probability lies within 0.1 of the production model's threshold, above or below
-- it (the review band of the low_confidence_products query); a product with several images
-- takes each label's highest in-band probability.
CREATE TABLE analytics_uncertain (
    product_key INTEGER NOT NULL,
    label_id    INTEGER NOT NULL,
    score       FLOAT NOT NULL,
    threshold   FLOAT NOT NULL
);

-- When the analytics tables were last rebuilt, and from which model.
CREATE TABLE analytics_refresh (
    refreshed_at    TIMESTAMPTZ NOT NULL,
    model_version   VARCHAR,
    products        BIGINT NOT NULL,
    scored_products BIGINT NOT NULL,
    labels          BIGINT NOT NULL
);

-- Products whose image the production model has scored: the denominator of every share.
CREATE VIEW scored_products AS
SELECT retailer, product_id, brand, first_seen, last_seen
FROM analytics_products
WHERE model_version IS NOT NULL;

-- Predicted attributes per product from the production model; a product with several images
-- takes each label's highest score.
CREATE VIEW product_attributes AS
SELECT p.retailer, p.product_id, p.brand, p.first_seen, p.last_seen,
       l.label_id, l.task, l.name, a.score, p.model_version
FROM analytics_labels AS a
JOIN analytics_products AS p USING (product_key)
JOIN labels AS l USING (label_id);
