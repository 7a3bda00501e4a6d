"""Drives omsd's bucket and catalogue helpers with the official Huawei Cloud OMS Python SDK,
unchanged: ShowCloudType, ShowRegionInfo, UpdatePrivacyAgreementRecord, ShowBucketList,
ShowBucketObjects, ShowBucketRegion, CheckPrefix, CheckUrlSourceListFileFormat and ShowCdnInfo,
against the s3s-fs and the CDN (a plain HTTP server over the same folder) that run.sh starts.
Each answer must deserialize into the SDK's models with the values the store holds.

Environment: OMS_ENDPOINT, OMS_PROJECT_ID, OMS_AK, OMS_SK (omsd's access key), OMS_S3_AK,
OMS_S3_SK, OMS_S3_REGION (the S3 server's keys and the region omsd maps to it), OMS_CDN_DOMAIN.
"""

import json
import os
import sys

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkoms.v2 import (
    CheckPrefixReq, CheckPrefixRequest, CheckUrlSourceListFileFormatReq,
    CheckUrlSourceListFileFormatRequest, ListBucketsReq, OmsClient, PrefixKeyInfo,
    ShowBucketListRequest, ShowBucketObjectsRequest, ShowBucketRegionReq, ShowBucketRegionRequest,
    ShowBucketReq, ShowCdnInfoReq, ShowCdnInfoRequest, ShowCloudTypeRequest, ShowRegionInfoRequest,
    SourceCdnReq, UpdatePrivacyAgreementRecordRequest,
)

ENDPOINT = os.environ["OMS_ENDPOINT"]
PROJECT = os.environ["OMS_PROJECT_ID"]
S3_AK = os.environ["OMS_S3_AK"]
S3_SK = os.environ["OMS_S3_SK"]
REGION = os.environ["OMS_S3_REGION"]
CDN = os.environ["OMS_CDN_DOMAIN"]
BUCKET = "sdk-bucket"


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def expect_error(call, status, code, says=""):
    try:
        call()
    except ClientRequestException as e:
        check(e.status_code == status and e.error_code == code and says in e.error_msg,
              f"expected {status} {code} ({says}), got {e.status_code} {e.error_code}: {e.error_msg}")
        check(S3_SK not in e.error_msg, "an error shows the secret key")
        return
    raise AssertionError(f"expected {status} {code}, the call succeeded")


def no_secret(response):
    text = json.dumps(response.to_dict(), default=str)
    check(S3_SK not in text, f"a response shows the secret key: {text}")


def main():
    oms = OmsClient.new_builder().with_credentials(
        BasicCredentials(os.environ["OMS_AK"], os.environ["OMS_SK"], PROJECT)).with_endpoints([ENDPOINT]).build()

    src = oms.show_cloud_type(ShowCloudTypeRequest(type="src")).body
    check("AWS" in src and "Azure" in src and "HEC" not in src, f"source clouds: {src}")
    check(oms.show_cloud_type(ShowCloudTypeRequest(type="dst")).body == ["HEC"], "destination clouds")
    regions = oms.show_region_info(ShowRegionInfoRequest()).body
    aws = next(r for r in regions if r.service_name == "AWS")
    values = [r.value for r in aws.region_list]
    check("us-east-1" in values and values[-1] == REGION and aws.region_list[0].cloud_type == "AWS",
          f"AWS regions: {values}")
    oms.update_privacy_agreement_record(UpdatePrivacyAgreementRecordRequest())

    buckets = oms.show_bucket_list(ShowBucketListRequest(body=ListBucketsReq(cloud_type="AWS", ak=S3_AK, sk=S3_SK)))
    check(buckets.body == [BUCKET], f"buckets: {buckets.body}")
    no_secret(buckets)
    expect_error(lambda: oms.show_bucket_list(ShowBucketListRequest(body=ListBucketsReq(
        cloud_type="AWS", ak=S3_AK, sk="not-the-secret"))), 400, "OMS.0153", "The source store")

    def page(after):
        return oms.show_bucket_objects(ShowBucketObjectsRequest(body=ShowBucketReq(
            cloud_type="AWS", ak=S3_AK, sk=S3_SK, bucket_name=BUCKET, file_path="photos/", data_center=REGION,
            page_size=2, behind_filename=after)))
    first = page("")
    check(first.next_page and [r.name for r in first.records] == ["photos/2024/c.jpg", "photos/a.jpg"]
          and first.records[0].size == "7" and first.next_marker == "photos/a.jpg", f"first page: {first}")
    second = page(first.next_marker)
    check(not second.next_page and [(r.name, r.size) for r in second.records] == [("photos/b.jpg", "5")],
          f"second page: {second}")

    region = oms.show_bucket_region(ShowBucketRegionRequest(body=ShowBucketRegionReq(
        cloud_type="AWS", ak=S3_AK, sk=S3_SK, bucket_name=BUCKET)))
    check(region.id and isinstance(region.support, bool), f"bucket region: {region}")

    def prefix(name, bucket=BUCKET):
        return oms.check_prefix(CheckPrefixRequest(body=CheckPrefixReq(
            cloud_type="AWS", ak=S3_AK, sk=S3_SK, bucket_name=bucket, file_name=name, data_center=REGION))).exist
    check(prefix("photos/a.jpg") and prefix("photos/20") and not prefix("videos/"), "check prefix")
    expect_error(lambda: prefix("x", bucket="no-such-bucket"), 400, "OMS.0153", "the bucket does not exist")

    def list_file(key):
        return oms.check_url_source_list_file_format(CheckUrlSourceListFileFormatRequest(
            body=CheckUrlSourceListFileFormatReq(obs_bucket=BUCKET, list_file_key=key, ak=S3_AK, sk=S3_SK,
                                                 region=REGION)))
    list_file("lists/good.txt")
    expect_error(lambda: list_file("lists/bad.txt"), 400, "OMS.0064", "sdk-bucket/lists/bad.txt: line 2")

    cdn = oms.show_cdn_info(ShowCdnInfoRequest(body=ShowCdnInfoReq(
        ak=S3_AK, sk=S3_SK, cloud_type="AWS", region=REGION, bucket=BUCKET,
        prefix=PrefixKeyInfo(keys=["photos/a.jpg", "photos/missing.jpg"]),
        source_cdn=SourceCdnReq(domain=CDN, protocol="http", authentication_type="NONE"))))
    no_secret(cdn)
    keys = {k.key: k for k in cdn.checked_keys}
    check(cdn.is_download_available and keys["photos/a.jpg"].is_object_existing
          and not keys["photos/missing.jpg"].is_object_existing, f"cdn info: {cdn}")
    print("sdk bucket and catalogue helpers: ok")


if __name__ == "__main__":
    sys.exit(main())
