DROP TABLE assets;
DROP TABLE asset_fields;
