DROP TABLE ticket_attachments;
