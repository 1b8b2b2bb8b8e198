-- The language a person chose (/language, the site's switch); NULL: their platform's, else the deployment's
-- DEFAULT_LOCALE. It wins on every platform.
ALTER TABLE unified_users ADD COLUMN language text CHECK (language IN ('ru', 'en'));
