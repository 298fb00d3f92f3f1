DROP INDEX submit_links_live;
DROP TABLE ticket_attachments;
