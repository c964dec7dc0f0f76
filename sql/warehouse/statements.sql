-- The warehouse's small statements, each loaded by name (fashion_model.sqlfiles.named): the
-- migration ledger, the label map, the analytics refresh row, and what the CLI, the API and the
-- web app check names against. Larger statements have a file of their own (load/, serve/, ...).

-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL
);

-- name: applied_migrations
SELECT version FROM schema_migrations;

-- name: record_migration
INSERT INTO schema_migrations VALUES ($version, $name, $applied_at);

-- name: schema_version
SELECT max(version) FROM schema_migrations;

-- name: product_count
SELECT count(*) FROM products;

-- name: analytics_refresh
-- When the analytics tables were last rebuilt, and from which model (no row before any).
SELECT * FROM analytics_refresh;

-- name: served_version
SELECT model_version FROM analytics_refresh;

-- name: label_rows
SELECT label_id, task, name FROM labels ORDER BY position;

-- name: insert_labels
-- The whole label map in one statement: all or nothing (executemany commits row by row).
INSERT INTO labels
SELECT unnest($ids), unnest($tasks), unnest($names), unnest(range(len($ids)));

-- name: label_names
SELECT label_id, name FROM labels;

-- name: label_tasks
SELECT label_id, task FROM labels;

-- name: known_tasks
SELECT DISTINCT task FROM labels ORDER BY 1;

-- name: category_names
-- The categories the production model predicted for some product, sorted (a page's filter).
SELECT DISTINCT l.name
FROM analytics_labels AS a
JOIN labels AS l USING (label_id)
WHERE l.task = 'category'
ORDER BY 1;

-- name: known_retailers
SELECT DISTINCT retailer FROM products ORDER BY 1;

-- name: staged_counts
-- What a catalog load staged: products, ok images, failed images.
SELECT count(DISTINCT (retailer, product_id)), count(*) FILTER (image_status = 'ok'),
       count(*) FILTER (image_status <> 'ok')
FROM staged_catalog;

-- name: drop_staged
DROP TABLE staged_catalog;

-- name: manifest_rows
SELECT count(*) FROM read_parquet($parts);

-- name: scored_products
SELECT retailer, product_id, first_seen FROM scored_products;

-- name: sync_shades
-- The named shades of the colour palette (fashion_model/colors/palette.py), replaced whole.
DELETE FROM color_shades;
INSERT INTO color_shades SELECT unnest($names), unnest($hexes), unnest($families);
