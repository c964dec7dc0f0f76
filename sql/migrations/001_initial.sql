-- Migration 001: the initial warehouse schema. Users query these names directly: keep them.

-- The label map of this database; `position` is the label's index in scores.probs (0-based).
CREATE TABLE labels (
    label_id INTEGER PRIMARY KEY,
    task     VARCHAR NOT NULL,
    name     VARCHAR NOT NULL,
    position INTEGER NOT NULL UNIQUE
);

-- Every model version that wrote rows here; exactly one row has is_production = true.
CREATE TABLE models (
    model_version         VARCHAR PRIMARY KEY,
    created_at            TIMESTAMPTZ NOT NULL,
    arch                  VARCHAR NOT NULL,
    image_size            INTEGER NOT NULL,
    val_micro_f1          DOUBLE,
    thresholds            FLOAT[] NOT NULL,   -- one per label, in `position` order
    is_production         BOOLEAN NOT NULL DEFAULT false,
    label_map_fingerprint VARCHAR NOT NULL,
    metrics               JSON
);

-- One row per stored image (content-addressed: identical images across products are one row).
CREATE TABLE images (
    image_sha256    VARCHAR PRIMARY KEY,
    width           INTEGER,
    height          INTEGER,
    original_width  INTEGER,
    original_height INTEGER,
    bytes           BIGINT,
    path            VARCHAR NOT NULL,   -- relative to the image store root (HOME/images)
    downloaded_at   TIMESTAMPTZ
);

-- One row per catalog product, whether or not its image downloaded.
CREATE TABLE products (
    retailer       VARCHAR NOT NULL,
    product_id     VARCHAR NOT NULL,
    brand          VARCHAR,
    title          VARCHAR,
    first_seen     DATE,
    last_seen      DATE,
    price          DOUBLE,   -- the latest observed price
    currency       VARCHAR,
    source_columns JSON,     -- every other catalog column, as read
    PRIMARY KEY (retailer, product_id)
);

-- A product's images in catalog order, with the outcome of each download.
CREATE TABLE product_images (
    retailer      VARCHAR NOT NULL,
    product_id    VARCHAR NOT NULL,
    position      INTEGER NOT NULL,
    image_url     VARCHAR,
    image_sha256  VARCHAR,   -- null when the download failed
    image_status  VARCHAR NOT NULL,
    error_message VARCHAR,
    PRIMARY KEY (retailer, product_id, position)
);

-- One row per product per nightly run (observed_on = the run's --as-of date).
CREATE TABLE product_observations (
    retailer     VARCHAR NOT NULL,
    product_id   VARCHAR NOT NULL,
    observed_on  DATE NOT NULL,
    price        DOUBLE,
    currency     VARCHAR,
    image_sha256 VARCHAR,
    PRIMARY KEY (retailer, product_id, observed_on)
);

-- Model outputs, once per (image, model version).
CREATE TABLE scores (
    image_sha256  VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    probs         FLOAT[] NOT NULL,   -- probs[position + 1] is the probability of that label
    PRIMARY KEY (image_sha256, model_version)
);

CREATE TABLE embeddings (
    image_sha256  VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    embedding     FLOAT[512] NOT NULL,   -- L2-normalised pooled ResNet34 features
    PRIMARY KEY (image_sha256, model_version)
);

-- The labels at or above the model's thresholds.
CREATE TABLE predictions (
    image_sha256  VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    label_id      INTEGER NOT NULL,
    score         FLOAT NOT NULL,
    PRIMARY KEY (image_sha256, model_version, label_id)
);

-- Predicted attributes per product from the production model; a product with several images
-- takes each label's highest score.
CREATE VIEW product_attributes AS
SELECT
    p.retailer,
    p.product_id,
    p.brand,
    p.first_seen,
    p.last_seen,
    l.label_id,
    l.task,
    l.name,
    max(pr.score) AS score,
    pr.model_version
FROM products AS p
JOIN product_images AS pi USING (retailer, product_id)
JOIN predictions AS pr ON pr.image_sha256 = pi.image_sha256
JOIN models AS m ON m.model_version = pr.model_version AND m.is_production
JOIN labels AS l ON l.label_id = pr.label_id
GROUP BY ALL;

-- Products whose image the production model has scored: the denominator of every share.
CREATE VIEW scored_products AS
SELECT DISTINCT p.retailer, p.product_id, p.brand, p.first_seen, p.last_seen
FROM products AS p
JOIN product_images AS pi USING (retailer, product_id)
JOIN scores AS s ON s.image_sha256 = pi.image_sha256
JOIN models AS m ON m.model_version = s.model_version AND m.is_production;
