DROP TABLE media_items;
