/**
 * The backup/restore and the two-daemons scenarios once more, with every daemon writing the
 * chunked archive format (docs/chunked-backups.md): the default-format runs are the files
 * themselves. This file runs in a process of its own (pool "forks"), so the setting stays here.
 * E2E_STORAGE_FORMAT=chunked set outside runs the whole suite that way instead.
 */
process.env.E2E_STORAGE_FORMAT = "chunked";
await import("./backup-restore.test.js");
await import("./two-node-snapshot.test.js");
