-- The applicant's language (their Telegram app's, or their choice) when the join request came: the timeout
-- notice, sent later by a job, is said in it.
ALTER TABLE verification_join_requests ADD COLUMN locale text;
