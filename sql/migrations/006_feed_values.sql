-- Migration 006: what real feeds say beyond the price: the sale price (Merchant `sale_price`)
-- and the availability (in_stock, out_of_stock, preorder, backorder), on the product (latest)
-- and on each night's observation (history). NULL where the feed does not say.
ALTER TABLE products ADD COLUMN sale_price DOUBLE;
ALTER TABLE products ADD COLUMN availability VARCHAR;
ALTER TABLE product_observations ADD COLUMN sale_price DOUBLE;
ALTER TABLE product_observations ADD COLUMN availability VARCHAR;
