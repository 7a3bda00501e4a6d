"""Drives a running omsd with the official Huawei Cloud OMS Python SDK, unchanged.

Every call runs twice: signed with BasicCredentials(ak, sk, project_id) (SDK-HMAC-SHA256), and
with an X-Auth-Token from POST /v3/auth/tokens (BasicCredentials whose signing hook sets the header
instead). Each response must deserialize into the SDK's models with the right values.

Environment: OMS_ENDPOINT, OMS_PROJECT_ID, OMS_AK, OMS_SK, OMS_USER, OMS_PASSWORD.
"""

import json
import os
import sys
import urllib.request

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.signer.signer import Signer
from huaweicloudsdkoms.v2 import (
    BandwidthPolicyDto, BatchUpdateTasksReq, BatchUpdateTasksRequest, CreateTaskGroupReq,
    CreateTaskGroupRequest, CreateTaskReq, CreateTaskRequest, DeleteTaskGroupRequest,
    DeleteTaskRequest, DstNodeReq, ListApiVersionsRequest, ListTaskGroupRequest, ListTasksRequest,
    OmsClient, ShowApiInfoRequest, ShowTaskGroupRequest, ShowTaskRequest, SrcNodeReq,
    StartTaskGroupReq, StartTaskGroupRequest, StartTaskReq, StartTaskRequest, StopTaskGroupRequest,
    StopTaskRequest, TaskGroupDstNode, TaskGroupSrcNode, UpdateBandwidthPolicyReq,
    UpdateBandwidthPolicyRequest,
)

ENDPOINT = os.environ["OMS_ENDPOINT"]
PROJECT = os.environ["OMS_PROJECT_ID"]
SECRETS = ["SDK-SRC-SECRET", "SDK-DST-SECRET", "SDK-SRC-SECRET-2", "SDK-DST-SECRET-2"]


def token_credentials(token):
    """BasicCredentials that send X-Auth-Token instead of an AK/SK signature (the SDK accepts only
    its own credential classes, so the instance's signing hook is replaced)."""
    credentials = BasicCredentials("unused", "unused", PROJECT)

    def send_token(request):
        request.header_params["X-Project-Id"] = PROJECT
        request.header_params["X-Auth-Token"] = token
        Signer.process_request_uri(request)  # what signing does besides the signature
        return request

    credentials.sign_request = send_token
    return credentials


def get_token():
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": os.environ["OMS_USER"], "password": os.environ["OMS_PASSWORD"], "domain": {"name": "default"}}}},
        "scope": {"project": {"id": PROJECT}}}}
    req = urllib.request.Request(ENDPOINT + "/v3/auth/tokens", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json;charset=UTF-8"})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 201, resp.status
        return resp.headers["X-Subject-Token"]


def client(credentials):
    return OmsClient.new_builder().with_credentials(credentials).with_endpoints([ENDPOINT]).build()


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def no_secrets(response):
    text = json.dumps(response.to_dict(), default=str)
    for secret in SECRETS:
        check(secret not in text, f"a response shows a secret: {text}")


def expect_error(call, status, code):
    try:
        call()
    except ClientRequestException as e:
        check(e.status_code == status and e.error_code == code, f"expected {status} {code}, got {e.status_code} {e.error_code}: {e.error_msg}")
        return
    raise AssertionError(f"expected {status} {code}, the call succeeded")


def run(oms, label):
    versions = oms.list_api_versions(ListApiVersionsRequest())
    check(versions.versions[0].id == "v2" and versions.versions[0].status == "CURRENT", "list versions")
    check(oms.show_api_info(ShowApiInfoRequest(version="v2")).id == "v2", "show version")

    # Task group: create, list, show, stop, start (resume with keys), delete.
    group_req = CreateTaskGroupReq(
        src_node=TaskGroupSrcNode(cloud_type="AWS", region="us-east-1", ak="SDK-SRC-AK", sk="SDK-SRC-SECRET",
                                  bucket="sdk-source", object_key=[""]),
        dst_node=TaskGroupDstNode(ak="SDK-DST-AK", sk="SDK-DST-SECRET", region="cn-north-4", bucket="sdk-dest"),
        task_type="PREFIX", description=f"sdk {label}")
    group_id = oms.create_task_group(CreateTaskGroupRequest(body=group_req)).group_id
    check(len(group_id) == 36, "group id is a uuid")
    listed = oms.list_task_group(ListTaskGroupRequest(limit=100, offset=0))
    check(any(g.group_id == group_id for g in listed.taskgroups) and listed.count >= 1, "list groups")
    group = oms.show_task_group(ShowTaskGroupRequest(group_id=group_id))
    no_secrets(group)
    check(group.status == 0 and group.task_type == "PREFIX" and group.src_node.bucket == "sdk-source"
          and group.src_node.cloud_type == "AWS" and group.dst_node.bucket == "sdk-dest"
          and group.description == f"sdk {label}", f"show group: {group}")
    oms.stop_task_group(StopTaskGroupRequest(group_id=group_id))
    check(oms.show_task_group(ShowTaskGroupRequest(group_id=group_id)).status == 3, "group paused")
    expect_error(lambda: oms.stop_task_group(StopTaskGroupRequest(group_id=group_id)), 400, "OMS.0066")
    expect_error(lambda: oms.start_task_group(StartTaskGroupRequest(group_id=group_id, body=StartTaskGroupReq(
        src_ak="SDK-SRC-AK", src_sk="SDK-SRC-SECRET-2"))), 400, "OMS.0064")
    oms.start_task_group(StartTaskGroupRequest(group_id=group_id, body=StartTaskGroupReq(
        src_ak="SDK-SRC-AK", src_sk="SDK-SRC-SECRET-2", dst_ak="SDK-DST-AK", dst_sk="SDK-DST-SECRET-2")))
    check(oms.show_task_group(ShowTaskGroupRequest(group_id=group_id)).status == 0, "group resumed")

    # Task: create, list by group, show, stop, start, update bandwidth policy, batch-update, delete.
    task_req = CreateTaskReq(
        task_type="prefix",
        src_node=SrcNodeReq(cloud_type="AWS", region="us-east-1", ak="SDK-SRC-AK", sk="SDK-SRC-SECRET",
                            bucket="sdk-source", object_key=["photos/"]),
        dst_node=DstNodeReq(ak="SDK-DST-AK", sk="SDK-DST-SECRET", region="cn-north-4", bucket="sdk-dest",
                            save_prefix="copy/"),
        enable_failed_object_recording=True, object_overwrite_mode="NO_OVERWRITE", task_priority="HIGH")
    created = oms.create_task(CreateTaskRequest(body=task_req))
    task_id = created.id
    check(isinstance(task_id, int) and len(str(task_id)) == 15 and created.task_name, f"create task: {created}")
    by_group = oms.list_tasks(ListTasksRequest(group_id=group_id, limit=100))
    check(by_group.count == 0 and by_group.tasks == [], "a group not yet split has no tasks")
    all_tasks = oms.list_tasks(ListTasksRequest(limit=100, offset=0))
    check(any(t.id == task_id for t in all_tasks.tasks), "list tasks")
    task = oms.show_task(ShowTaskRequest(task_id=str(task_id)))
    no_secrets(task)
    check(task.id == task_id and task.status == 1 and task.task_type == "prefix" and task.group_type == "NORMAL_TASK"
          and task.src_node.object_key == ["photos/"] and task.dst_node.save_prefix == "copy/"
          and task.object_overwrite_mode == "NO_OVERWRITE" and task.task_priority == "HIGH", f"show task: {task}")
    oms.stop_task(StopTaskRequest(task_id=str(task_id)))
    check(oms.show_task(ShowTaskRequest(task_id=str(task_id))).status == 3, "task paused")
    expect_error(lambda: oms.stop_task(StopTaskRequest(task_id=str(task_id))), 400, "OMS.0066")
    oms.start_task(StartTaskRequest(task_id=str(task_id), body=StartTaskReq(
        src_ak="SDK-SRC-AK", src_sk="SDK-SRC-SECRET-2", dst_ak="SDK-DST-AK", dst_sk="SDK-DST-SECRET-2")))
    check(oms.show_task(ShowTaskRequest(task_id=str(task_id))).status == 1, "task started")
    expect_error(lambda: oms.start_task(StartTaskRequest(task_id=str(task_id), body=StartTaskReq(
        dst_ak="SDK-DST-AK", dst_sk="SDK-DST-SECRET-2", src_ak="a", src_sk="b"))), 400, "OMS.0065")
    window = BandwidthPolicyDto(start="22:00", end="06:00", max_bandwidth=20 * 1024 * 1024)
    oms.update_bandwidth_policy(UpdateBandwidthPolicyRequest(task_id=str(task_id),
                                                             body=UpdateBandwidthPolicyReq(bandwidth_policy=[window])))
    policy = oms.show_task(ShowTaskRequest(task_id=str(task_id))).bandwidth_policy
    check(len(policy) == 1 and policy[0].start == "22:00" and policy[0].max_bandwidth == 20 * 1024 * 1024, "policy set")
    oms.batch_update_tasks(BatchUpdateTasksRequest(body=BatchUpdateTasksReq(
        ids=[task_id], bandwidth_policy=[], task_priority="LOW")))
    task = oms.show_task(ShowTaskRequest(task_id=str(task_id)))
    check(task.bandwidth_policy == [] and task.task_priority == "LOW", f"batch update: {task}")
    oms.delete_task(DeleteTaskRequest(task_id=str(task_id)))
    expect_error(lambda: oms.show_task(ShowTaskRequest(task_id=str(task_id))), 400, "OMS.1009")

    oms.delete_task_group(DeleteTaskGroupRequest(group_id=group_id))
    # A missing group is 404 (the Terraform provider counts only 404 as gone), a missing task 400.
    expect_error(lambda: oms.show_task_group(ShowTaskGroupRequest(group_id=group_id)), 404, "OMS.1009")
    print(f"sdk compatibility ({label}): ok")


def main():
    run(client(BasicCredentials(os.environ["OMS_AK"], os.environ["OMS_SK"], PROJECT)), "AK/SK signature")
    run(client(token_credentials(get_token())), "X-Auth-Token")
    wrong = client(BasicCredentials(os.environ["OMS_AK"], "not-the-secret", PROJECT))
    expect_error(lambda: wrong.list_tasks(ListTasksRequest()), 401, "APIGW.0301")
    print("sdk compatibility: a wrong secret key is refused with 401")


if __name__ == "__main__":
    sys.exit(main())
