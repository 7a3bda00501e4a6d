-- consistency_check crc64: the CRC-64/XZ of a saved part's bytes, computed while they were sent
-- (decimal text: the value is an unsigned 64-bit number), so that a multipart upload resumed by
-- a later run still proves the whole object by combining its parts' CRCs. Null: not computed
-- (a part copied server-side, a task that does not check CRC64, a part saved before this).
alter table multipart_parts add column crc64 text;

-- Objects of a consistency_check crc64 task that were checked by size and time instead,
-- because neither the source nor the destination reported a CRC64 (as OMS falls back): the
-- task says so.
alter table tasks add column crc64_unchecked_num integer not null default 0;
