-- Object keys sort byte by byte, as S3 lists them: SQLite compares text that way already
-- (BINARY); the PostgreSQL twin makes its key columns do the same. Nothing to change here.
select 1;
