-- The MD5 of each part's bytes as sent (Content-MD5, which the destination checked, or the
-- part's entity tag it was compared with): where a destination's entity tags are not MD5s
-- (SSE-KMS), these prove a multipart copy in the verification manifest, resumed parts included.
alter table multipart_parts add column md5 text;
