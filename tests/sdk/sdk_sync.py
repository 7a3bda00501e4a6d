"""Drives sync tasks of a running omsd (with its worker) with the official Huawei Cloud OMS Python
SDK, unchanged, between two buckets of a real S3 server (s3s-fs):

create -> list -> show(query_time) -> events (1,000 keys in calls of 10, some repeated, some
URL-encoded awkwardly) -> statistics -> stop -> start with keys -> more events -> stop -> delete.
The bytes at the destination must equal the source's, and the counters what was sent and copied.
Bad input must get OMS-shaped 400s.

Environment: OMS_ENDPOINT, OMS_PROJECT_ID, OMS_AK, OMS_SK (omsd), OMS_S3_URL, OMS_S3_AK,
OMS_S3_SK (the S3 server), OMS_SRC_REGION and OMS_DST_REGION (regions omsd maps to it).
"""

import datetime
import hashlib
import hmac
import os
import random
import sys
import time
import urllib.parse
import urllib.request

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkoms.v2 import (
    CreateSyncEventsRequest, CreateSyncTaskReq, CreateSyncTaskRequest, DeleteSyncTaskRequest,
    ListSyncTaskStatisticRequest, ListSyncTasksRequest, OmsClient, ShowSyncTaskRequest,
    StartSyncTaskReq, StartSyncTaskRequest, StopSyncTaskRequest, SyncObjectReq,
)

ENDPOINT = os.environ["OMS_ENDPOINT"]
PROJECT = os.environ["OMS_PROJECT_ID"]
S3_URL = os.environ["OMS_S3_URL"]
S3_AK = os.environ["OMS_S3_AK"]
S3_SK = os.environ["OMS_S3_SK"]
SRC_REGION = os.environ["OMS_SRC_REGION"]
DST_REGION = os.environ["OMS_DST_REGION"]
SRC, DST = "sdk-sync-src", "sdk-sync-dst"
KEYS = 1000


def s3(method, bucket, key="", body=b""):
    """One path-style S3 request signed with AWS Signature V4 (stdlib only); returns the body."""
    url = urllib.parse.urlsplit(S3_URL)
    path = "/" + bucket + ("/" + urllib.parse.quote(key, safe="/~") if key else "")
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": url.netloc, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "",
                           signed, payload])
    scope = f"{day}/us-east-1/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key_bytes = ("AWS4" + S3_SK).encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        key_bytes = hmac.new(key_bytes, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={S3_AK}/{scope}, "
                                f"SignedHeaders={signed}, Signature={signature}")
    req = urllib.request.Request(S3_URL + path, data=body if method == "PUT" else None,
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        if e.code == 404 and method in ("GET", "HEAD"):
            return None
        raise


def client():
    credentials = BasicCredentials(os.environ["OMS_AK"], os.environ["OMS_SK"], PROJECT)
    return OmsClient.new_builder().with_credentials(credentials).with_endpoints([ENDPOINT]).build()


def expect_error(call, status, code, words=""):
    try:
        call()
    except ClientRequestException as e:
        assert e.status_code == status and e.error_code == code, (e.status_code, e.error_code, e.error_msg)
        assert words in e.error_msg, e.error_msg
        return
    raise AssertionError(f"expected {status} {code}")


def show(oms, sync_id):
    now = int(time.time() * 1000)
    return oms.show_sync_task(ShowSyncTaskRequest(sync_task_id=sync_id, query_time=now))


def wait_counted(oms, sync_id, processed, timeout=300):
    """Waits until success + failure + skip reach `processed`; returns the task."""
    deadline = time.time() + timeout
    while True:
        task = show(oms, sync_id)
        done = task.monthly_success_object + task.monthly_failure_object + task.monthly_skip_object
        if done >= processed:
            return task
        assert time.time() < deadline, f"only {done} of {processed} keys processed: {task}"
        time.sleep(0.5)


def send(oms, sync_id, keys):
    for i in range(0, len(keys), 10):
        encoded = [urllib.parse.quote(k, safe="") for k in keys[i:i + 10]]
        oms.create_sync_events(CreateSyncEventsRequest(
            sync_task_id=sync_id, body=SyncObjectReq(object_keys=encoded)))


def main():
    oms = client()
    for bucket in (SRC, DST):
        s3("PUT", bucket)
    names = [f"sdk/{i:04d}.bin" for i in range(KEYS - 4)]
    names += ["sdk/with space.txt", "sdk/plus+sign.txt", "sdk/100%.txt", "sdk/中文.txt"]
    objects = {name: os.urandom(random.randint(1, 4096)) for name in names}
    for name, body in objects.items():
        s3("PUT", SRC, name, body)

    created = oms.create_sync_task(CreateSyncTaskRequest(body=CreateSyncTaskReq(
        src_cloud_type="AWS", src_region=SRC_REGION, src_bucket=SRC, src_ak=S3_AK, src_sk=S3_SK,
        dst_region=DST_REGION, dst_bucket=DST, dst_ak=S3_AK, dst_sk=S3_SK,
        description="sdk sync", consistency_check="size_last_modified")))
    sync_id = created.sync_task_id
    listed = oms.list_sync_tasks(ListSyncTasksRequest(limit=10, offset=0, status="SYNCHRONIZING"))
    assert listed.count == 1 and listed.tasks[0].sync_task_id == sync_id, listed
    assert listed.tasks[0].src_bucket == SRC and listed.tasks[0].status == "SYNCHRONIZING"
    task = show(oms, sync_id)
    assert task.status == "SYNCHRONIZING" and task.monthly_acceptance_request == 0, task

    # Bad input: OMS-shaped 400s, nothing queued.
    bad = lambda keys: lambda: oms.create_sync_events(CreateSyncEventsRequest(
        sync_task_id=sync_id, body=SyncObjectReq(object_keys=keys)))
    expect_error(bad([f"k{i}" for i in range(11)]), 400, "OMS.0064", "object_keys")
    expect_error(bad([]), 400, "OMS.0064", "object_keys")
    expect_error(bad(["x" * 1025]), 400, "OMS.0064", "object_keys[0]")
    expect_error(lambda: oms.list_sync_task_statistic(ListSyncTaskStatisticRequest(
        sync_task_id=sync_id, data_type="BYTES", start_time=0, end_time=1)), 400, "OMS.0064", "data_type")
    expect_error(lambda: oms.show_sync_task(ShowSyncTaskRequest(sync_task_id=sync_id, query_time=-5)),
                 400, "OMS.0064", "query_time")
    expect_error(lambda: oms.delete_sync_task(DeleteSyncTaskRequest(sync_task_id=sync_id)),
                 400, "OMS.0063")
    assert show(oms, sync_id).monthly_acceptance_request == 0

    # 1,000 keys in calls of 10, a tenth of them again.
    sent = names + names[::10]
    send(oms, sync_id, sent)
    task = wait_counted(oms, sync_id, len(names))
    assert task.monthly_acceptance_request == len(sent), task
    wait_counted(oms, sync_id, len(names))
    deadline = time.time() + 120
    while show(oms, sync_id).monthly_success_object < len(names):
        assert time.time() < deadline, show(oms, sync_id)
        time.sleep(0.5)
    for name, body in objects.items():
        copied = s3("GET", DST, name)
        assert copied is not None, f"{name} missing at the destination"
        assert hashlib.md5(copied).hexdigest() == hashlib.md5(body).hexdigest(), name
    task = show(oms, sync_id)
    assert task.monthly_success_object == len(names), task
    assert task.monthly_failure_object == 0, task
    assert task.monthly_size == sum(len(b) for b in objects.values()), task

    now = int(time.time() * 1000)
    stats = oms.list_sync_task_statistic(ListSyncTaskStatisticRequest(
        sync_task_id=sync_id, data_type="REQUEST,SUCCESS,SIZE", start_time=now - 3600_000, end_time=now))
    assert stats.statistic_time_type == "FIVE_MINUTES", stats
    totals = {s.data_type: sum(p.statistic_num for p in s.data) for s in stats.statistic_datas}
    assert totals == {"REQUEST": len(sent), "SUCCESS": len(names), "SIZE": task.monthly_size}, totals

    # Stop: events refused, keys gone; start again with the keys; a changed object follows.
    oms.stop_sync_task(StopSyncTaskRequest(sync_task_id=sync_id))
    assert show(oms, sync_id).status == "STOPPED"
    expect_error(bad(["sdk%2F0000.bin"]), 400, "OMS.0066", "stopped")
    oms.start_sync_task(StartSyncTaskRequest(sync_task_id=sync_id, body=StartSyncTaskReq(
        src_ak=S3_AK, src_sk=S3_SK, dst_ak=S3_AK, dst_sk=S3_SK)))
    assert show(oms, sync_id).status == "SYNCHRONIZING"
    changed = os.urandom(5000)
    s3("PUT", SRC, names[0], changed)
    send(oms, sync_id, [names[0]])
    deadline = time.time() + 120
    while show(oms, sync_id).monthly_success_object < len(names) + 1:
        assert time.time() < deadline, show(oms, sync_id)
        time.sleep(0.5)
    assert s3("GET", DST, names[0]) == changed

    oms.stop_sync_task(StopSyncTaskRequest(sync_task_id=sync_id))
    oms.delete_sync_task(DeleteSyncTaskRequest(sync_task_id=sync_id))
    expect_error(lambda: show(oms, sync_id), 404, "OMS.1009")
    print(f"sync tasks: {len(sent)} keys sent, {len(names)} objects copied byte for byte")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        raise
