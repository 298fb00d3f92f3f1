DROP TABLE rate_limits;
DROP TABLE share_views;
DROP TABLE share_links;
