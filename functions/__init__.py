"""HTTP and scheduled entrypoints: parse, verify, one call into ttfd in one transaction, serialize."""
