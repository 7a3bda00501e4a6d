-- Object keys sort byte by byte, as S3 lists them and SQLite compares text: the success, skip
-- and failed lists, the manifest and the failed-objects pages come out in one order on both
-- databases, whatever the server's locale (a run writes its first lists from its own records,
-- sorted byte by byte, and later ones from here). The tables are not rewritten, but their key
-- indexes are rebuilt while the tables are locked: on a database holding millions of records,
-- run `omsd migrate` with the workers stopped (docs/operations.md). The planner's statistics
-- of the columns are gathered again.
alter table object_records alter column object_key type text collate "C";
alter table object_failures alter column object_key type text collate "C";
alter table object_restores alter column object_key type text collate "C";
analyze object_records;
analyze object_failures;
analyze object_restores;
