DROP TABLE report_items;
DROP TABLE reports;
