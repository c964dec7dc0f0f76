-- Load one nightly catalog run into the warehouse, from the temp table `staged_catalog`
-- (one row per catalog row: retailer, product_id, position, image_url, image_status,
-- error_message, image_sha256, width, height, original_width, original_height, bytes, path,
-- downloaded_at, brand, title, first_seen, price, currency, sale_price, availability,
-- source_columns).
-- Parameters: $as_of (DATE) the run's date: products seen today get last_seen = $as_of.
-- Idempotent: a rerun of the same day updates rows in place and never duplicates one.

INSERT INTO images
SELECT image_sha256, any_value(width), any_value(height), any_value(original_width),
       any_value(original_height), any_value(bytes), any_value(path), min(downloaded_at)
FROM staged_catalog
WHERE image_status = 'ok'
GROUP BY image_sha256
ON CONFLICT (image_sha256) DO NOTHING;

INSERT INTO products BY NAME
SELECT retailer, product_id,
       arg_min(brand, position) AS brand, arg_min(title, position) AS title,
       coalesce(min(first_seen), $as_of::DATE) AS first_seen, $as_of::DATE AS last_seen,
       arg_min(price, position) AS price, arg_min(currency, position) AS currency,
       arg_min(source_columns, position) AS source_columns,
       arg_min(sale_price, position) AS sale_price,
       arg_min(availability, position) AS availability
FROM staged_catalog
GROUP BY retailer, product_id
ON CONFLICT (retailer, product_id) DO UPDATE SET
    brand = excluded.brand,
    title = excluded.title,
    first_seen = least(products.first_seen, excluded.first_seen),
    last_seen = greatest(products.last_seen, excluded.last_seen),
    price = excluded.price,
    currency = excluded.currency,
    source_columns = excluded.source_columns,
    sale_price = excluded.sale_price,
    availability = excluded.availability;

INSERT INTO product_images
SELECT retailer, product_id, position, image_url, image_sha256, image_status, error_message
FROM staged_catalog
ON CONFLICT (retailer, product_id, position) DO UPDATE SET
    image_url = excluded.image_url,
    image_sha256 = excluded.image_sha256,
    image_status = excluded.image_status,
    error_message = excluded.error_message;

INSERT INTO product_observations BY NAME
SELECT retailer, product_id, $as_of::DATE AS observed_on,
       arg_min(price, position) AS price, arg_min(currency, position) AS currency,
       arg_min(image_sha256, position) AS image_sha256,
       arg_min(sale_price, position) AS sale_price,
       arg_min(availability, position) AS availability
FROM staged_catalog
GROUP BY retailer, product_id
ON CONFLICT (retailer, product_id, observed_on) DO UPDATE SET
    price = excluded.price,
    currency = excluded.currency,
    image_sha256 = excluded.image_sha256,
    sale_price = excluded.sale_price,
    availability = excluded.availability;
