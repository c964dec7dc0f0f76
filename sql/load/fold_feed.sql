-- A read feed's items (Parquet at $items) folded into products: variants of one product,
-- its images in rank order, repeated images counted. {dedupe} is the Merchant rule (the first of
-- a repeated id is kept) or nothing. Run by fashion_model/ingest/feeds.py in a scratch database.
CREATE TEMP TABLE kept AS
SELECT * FROM read_parquet($items)
{dedupe};

CREATE TEMP TABLE pictures AS
SELECT key, list(url ORDER BY rank) AS images, sum(n) - count(*) AS repeated
FROM (SELECT key, url, min(rank) AS rank, count(*) AS n
      FROM (SELECT key, unnest(image_urls) AS url, unnest(image_ranks) AS rank FROM kept)
      WHERE url <> ''
      GROUP BY key, url)
GROUP BY key;

CREATE TEMP TABLE folded AS
SELECT
    min(seq) AS seq, key,
    arg_min(where_, seq) AS where_,
    arg_min(product_id, seq) AS product_id,
    count(*) AS items,
    sum(bad_image_urls) AS bad_image_urls,
    list(product_id ORDER BY seq) AS variant_ids,
    arg_min(retailer, seq) FILTER (retailer IS NOT NULL) AS retailer,
    arg_min(brand, seq) FILTER (brand IS NOT NULL) AS brand,
    arg_min(title, seq) FILTER (title IS NOT NULL) AS title,
    min(first_seen) AS first_seen,
    min(price) AS price,
    arg_min(currency, coalesce(price, 1e300)) FILTER (currency IS NOT NULL) AS currency,
    min(sale_price) AS sale_price,
    CASE min(CASE availability WHEN 'in_stock' THEN 1 WHEN 'preorder' THEN 2
                               WHEN 'backorder' THEN 3 WHEN 'out_of_stock' THEN 4 END)
        WHEN 1 THEN 'in_stock' WHEN 2 THEN 'preorder' WHEN 3 THEN 'backorder'
        WHEN 4 THEN 'out_of_stock' END AS availability,
    arg_min(extras, seq) AS extras,
    arg_min(unparsed, seq) FILTER (unparsed IS NOT NULL) AS unparsed
FROM kept
GROUP BY key;
