-- Migration 010: prices are exact. A price is a DECIMAL(18,4) with its ISO 4217 currency from
-- the feed to the warehouse (ingest/values.py parses it once; the manifest keeps it typed), so
-- 12.99 stays 12.99 in every sum and comparison. Stored DOUBLEs are rounded to 4 places here.
ALTER TABLE products ALTER price TYPE DECIMAL(18,4);
ALTER TABLE products ALTER sale_price TYPE DECIMAL(18,4);
ALTER TABLE product_observations ALTER price TYPE DECIMAL(18,4);
ALTER TABLE product_observations ALTER sale_price TYPE DECIMAL(18,4);
ALTER TABLE analytics_products ALTER price TYPE DECIMAL(18,4);
ALTER TABLE analytics_periods ALTER price TYPE DECIMAL(18,4);
