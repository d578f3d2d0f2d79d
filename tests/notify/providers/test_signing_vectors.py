"""The signing modules reproduce the worked examples the providers publish, value for value."""

from __future__ import annotations

import json

from daemon.notify.channels import aliyun_signing, tencent_signing


def test_aliyun_reproduces_the_documented_describe_regions_example() -> None:
    # Alibaba Cloud "Signature mechanism" (RPC), worked example: AccessKeySecret "testsecret".
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert aliyun_signing.string_to_sign("GET", params) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1"
        "%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0"
        "%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
    )
    assert aliyun_signing.rpc_signature("GET", params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_aliyun_reproduces_the_documented_send_sms_example_with_a_chinese_sign_name() -> None:
    # Alibaba Cloud SMS signing example: AccessKeySecret "testSecret", SignName in Chinese.
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert aliyun_signing.rpc_signature("GET", params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_aliyun_encoding_is_rfc3986_not_form_encoding() -> None:
    assert aliyun_signing.percent_encode("a b*c~d/") == "a%20b%2Ac~d%2F"


def test_tencent_reproduces_the_documented_signature_v3_example() -> None:
    # Tencent Cloud "Signature v3", worked example: CVM DescribeInstances at 1551113065 with
    # SecretKey "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"; every intermediate value the document prints is checked.
    payload = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    headers = {"Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com"}
    request, signed_headers = tencent_signing.canonical_request(headers, payload)
    assert request == (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
        "content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    assert signed_headers == "content-type;host"
    to_sign = tencent_signing.string_to_sign(request, 1551113065, "cvm")
    assert to_sign == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert (
        tencent_signing.signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", to_sign, 1551113065, "cvm")
        == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )
    signed = tencent_signing.sign_request(
        secret_id="AKIDEXAMPLE",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        service="cvm",
        host="cvm.tencentcloudapi.com",
        action="DescribeInstances",
        version="2017-03-12",
        region="ap-guangzhou",
        payload=payload,
        timestamp=1551113065,
    )
    assert signed.headers["Authorization"] == (
        "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )
    assert json.loads(payload)["Limit"] == 1


def test_tencent_scope_date_is_utc_not_local() -> None:
    # 1551113065 is 2019-02-26 00:44 in Beijing but 2019-02-25 in UTC: the document's own warning.
    assert tencent_signing.utc_date(1551113065) == "2019-02-25"
