-- download_outcomes: how many catalog images downloaded, per retailer and outcome.
-- Output columns: retailer, image_status, images, products
SELECT retailer, image_status, count(*) AS images,
       count(DISTINCT product_id) AS products
FROM product_images
GROUP BY ALL
ORDER BY retailer, image_status;
