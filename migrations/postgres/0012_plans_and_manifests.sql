-- The verification manifest (an omsd extension): how each copied object (kind 0) was proven,
-- beside its success-list row: the source's entity tag of the version copied, the checksum
-- that proved the bytes (md5, crc64, multipart-etag, etag, size) and its value, and the
-- destination's entity tag. Null on rows written before this, and on skipped objects.
alter table object_records add column source_etag text;
alter table object_records add column checksum text;
alter table object_records add column checksum_value text;
alter table object_records add column dst_etag text;
-- A dry run (an omsd extension) records what it would copy (kind 2) and overwrite (kind 3)
-- beside what it would skip (kind 1), without the cap of the lists: its plan is counted here.
