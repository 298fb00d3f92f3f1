DROP TABLE ticket_replies;
DROP TABLE tickets;
DROP TABLE submit_links;
