-- Migration 004: product matching. `image_key` is the 60-bit integer id of an image in the
-- nearest-neighbour index (the first 15 hex digits of its sha256; fashion_model/vector_index.py
-- computes the same in Python). `equivalents` holds `fashion equivalents` results: for each
-- product of from_retailer, its nearest products of to_retailer (rank 1 = nearest).
CREATE MACRO image_key(sha) AS ('0x' || left(sha, 15))::BIGINT;

CREATE TABLE equivalents (
    model_version   VARCHAR NOT NULL,   -- whose embeddings were compared
    from_retailer   VARCHAR NOT NULL,
    from_product_id VARCHAR NOT NULL,
    to_retailer     VARCHAR NOT NULL,
    to_product_id   VARCHAR NOT NULL,
    similarity      DOUBLE NOT NULL,    -- cosine similarity of the closest pair of their images
    rank            INTEGER NOT NULL    -- 1 = nearest of to_retailer's products
);
