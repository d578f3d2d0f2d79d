"""Local stand-ins for the SMS/voice/work-notification providers, checking requests as the providers document them.

Each verifier recomputes the signature with its own code written from the provider's documentation (not the
daemon's signing module), and answers like the provider: success, throttling, invalid number, no balance, or a
silence long enough to time the sender out. Behaviour is chosen by the destination number or user id.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

OK_NUMBER = "13800000000"
THROTTLED_NUMBER = "13800000001"
INVALID_NUMBER = "1380000000x"
BROKE_NUMBER = "13800000003"  # the account's balance is exhausted
SLOW_NUMBER = "13800000004"  # the provider does not answer in time
SLOW_S = 0.8


@dataclass
class Seen:
    """What a fake provider received and accepted."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected_signatures: int = 0
    nonces: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------------------- Alibaba Cloud SMS (RPC v1)
def aliyun_encode(text: str) -> str:
    """The documented rule byte by byte: only A-Z a-z 0-9 - _ . ~ stay literal; everything else is %XY."""
    unreserved = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    return "".join(chr(b) if b in unreserved else f"%{b:02X}" for b in text.encode())


def aliyun_expected_signature(method: str, params: dict[str, str], secret: str) -> str:
    """Base64(HMAC-SHA1(secret + "&", method & %2F & encode(sorted canonical query)))."""
    pairs = sorted((aliyun_encode(k), aliyun_encode(v)) for k, v in params.items() if k != "Signature")
    canonical = "&".join(f"{k}={v}" for k, v in pairs)
    to_sign = f"{method}&{aliyun_encode('/')}&{aliyun_encode(canonical)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def aliyun_sms(key_id: str, secret: str, seen: Seen) -> web.Application:
    """Dysmsapi SendSms."""

    async def handle(request: web.Request) -> web.Response:
        form = dict(urllib.parse.parse_qsl((await request.read()).decode(), keep_blank_values=True))
        signature = form.get("Signature", "")
        if form.get("AccessKeyId") != key_id or not hmac.compare_digest(
            signature, aliyun_expected_signature(request.method, form, secret)
        ):
            seen.rejected_signatures += 1
            refusal = {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
            return web.json_response(refusal, status=400)
        required = {
            "Action": "SendSms",
            "Version": "2017-05-25",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
        }
        for name, value in required.items():
            if form.get(name) != value:
                return web.json_response({"Code": "MissingParameter", "Message": name}, status=400)
        dt.datetime.strptime(form["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")  # ISO 8601 in UTC, as documented
        if form["SignatureNonce"] in seen.nonces:
            return web.json_response({"Code": "SignatureNonceUsed", "Message": "nonce used"}, status=400)
        seen.nonces.add(form["SignatureNonce"])
        json.loads(form["TemplateParam"])
        number = form["PhoneNumbers"]
        if number == SLOW_NUMBER:
            await asyncio.sleep(SLOW_S)
        answers = {
            THROTTLED_NUMBER: "isv.BUSINESS_LIMIT_CONTROL",
            INVALID_NUMBER: "isv.MOBILE_NUMBER_ILLEGAL",
            BROKE_NUMBER: "isv.AMOUNT_NOT_ENOUGH",
        }
        code = answers.get(number, "OK")
        if code == "OK":
            seen.accepted.append(form)
        return web.json_response({"Code": code, "Message": code, "RequestId": "r-1", "BizId": "b-1"})

    app = web.Application()
    app.router.add_post("/", handle)
    return app


def aliyun_vms(key_id: str, secret: str, seen: Seen) -> web.Application:
    """Dyvmsapi SingleCallByTts (2017-05-25): the same signature check, the call's own parameter rules.

    Answers as the VMS error-code page lists: isv.BUSINESS_LIMIT_CONTROL (flow control), isv.MOBILE_NUMBER_ILLEGAL,
    isv.AMOUNT_NOT_ENOUGH; OK with a CallId otherwise.
    """

    async def handle(request: web.Request) -> web.Response:
        form = dict(urllib.parse.parse_qsl((await request.read()).decode(), keep_blank_values=True))
        if form.get("AccessKeyId") != key_id or not hmac.compare_digest(
            form.get("Signature", ""), aliyun_expected_signature(request.method, form, secret)
        ):
            seen.rejected_signatures += 1
            refusal = {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
            return web.json_response(refusal, status=400)
        required = {"Action": "SingleCallByTts", "Version": "2017-05-25", "SignatureMethod": "HMAC-SHA1",
                    "SignatureVersion": "1.0", "Format": "JSON"}  # fmt: skip
        for name, value in required.items():
            if form.get(name) != value:
                return web.json_response({"Code": "MissingParameter", "Message": name}, status=400)
        dt.datetime.strptime(form["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        if form["SignatureNonce"] in seen.nonces:
            return web.json_response({"Code": "SignatureNonceUsed", "Message": "nonce used"}, status=400)
        seen.nonces.add(form["SignatureNonce"])
        variables = json.loads(form["TtsParam"])
        invalid = (
            not form.get("TtsCode")
            or sum(len(str(v)) for v in variables.values()) >= 250  # "整体长度必须小于 250 个字符"
            or any("://" in str(v) for v in variables.values())  # "不支持传入链接"
            or not 1 <= int(form.get("PlayTimes", "3")) <= 3
            or not 0 <= int(form.get("Volume", "100")) <= 100
            or not -500 <= int(form.get("Speed", "0")) <= 500
            or not 1 <= len(form.get("OutId", "x").encode()) <= 15
        )
        if invalid:
            return web.json_response({"Code": "isv.INVALID_PARAMETERS", "Message": "参数异常"})
        number = form["CalledNumber"]
        if number == SLOW_NUMBER:
            await asyncio.sleep(SLOW_S)
        answers = {
            THROTTLED_NUMBER: "isv.BUSINESS_LIMIT_CONTROL",
            INVALID_NUMBER: "isv.MOBILE_NUMBER_ILLEGAL",
            BROKE_NUMBER: "isv.AMOUNT_NOT_ENOUGH",
        }
        code = answers.get(number, "OK")
        if code != "OK":
            return web.json_response({"Code": code, "Message": code, "RequestId": "r-1"})
        seen.accepted.append(form)
        answer = {"Code": "OK", "Message": "OK", "RequestId": "r-1", "CallId": f"116012354148^{len(seen.accepted)}"}
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/", handle)
    return app


# ---------------------------------------------------------------------------- Tencent Cloud API 3.0 (TC3-HMAC-SHA256)
def tc3_expected_authorization(
    secret_id: str, secret_key: str, service: str, headers: dict[str, str], body: bytes
) -> str:
    """Recompute the Authorization header from what arrived, following the Signature v3 document step by step."""
    timestamp = int(headers["X-TC-Timestamp"])
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    canonical_headers = f"content-type:{headers['Content-Type'].lower()}\nhost:{headers['Host'].lower()}\n"
    canonical = "POST\n/\n\n" + canonical_headers + "\ncontent-type;host\n" + hashlib.sha256(body).hexdigest()
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = hmac.new(f"TC3{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    key = hmac.new(key, service.encode(), hashlib.sha256).digest()
    key = hmac.new(key, b"tc3_request", hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"


def _tencent_error(code: str) -> web.Response:
    return web.json_response({"Response": {"Error": {"Code": code, "Message": code}, "RequestId": "r-1"}})


def tencent(
    secret_id: str, secret_key: str, action: str, version: str, seen: Seen, *, broke: bool = False
) -> web.Application:
    """SMS SendSms or VMS SendTtsVoice (the real endpoints' host names start with the service: sms., vms.)."""
    service = "sms" if action == "SendSms" else "vms"

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name: request.headers.get(name, "") for name in ("Host", "Content-Type", "X-TC-Timestamp")}
        expected = tc3_expected_authorization(secret_id, secret_key, service, headers, body)
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            seen.rejected_signatures += 1
            return _tencent_error("AuthFailure.SignatureFailure")
        if request.headers.get("X-TC-Action") != action or request.headers.get("X-TC-Version") != version:
            return _tencent_error("InvalidAction")
        document = json.loads(body)
        if broke:  # the account ran out of balance: every call is refused
            return _tencent_error("FailedOperation.InsufficientBalance")
        number = document["PhoneNumberSet"][0] if action == "SendSms" else document["CalledNumber"]
        if number == "+86" + SLOW_NUMBER:
            await asyncio.sleep(SLOW_S)
        if action == "SendTtsVoice":
            errors = {
                "+86" + THROTTLED_NUMBER: "LimitExceeded.RequestLimitExceeded",
                "+86" + INVALID_NUMBER: "InvalidParameterValue.IncorrectPhoneNumber",
                "+86" + BROKE_NUMBER: "FailedOperation.InsufficientBalance",
            }
            if number in errors:
                return _tencent_error(errors[number])
            seen.accepted.append(document)
            answer = {"SendStatus": {"CallId": "c-1", "SessionContext": ""}, "RequestId": "r"}
            return web.json_response({"Response": answer})
        codes = {
            "+86" + THROTTLED_NUMBER: "LimitExceeded.PhoneNumberThirtySecondLimit",
            "+86" + INVALID_NUMBER: "InvalidParameterValue.IncorrectPhoneNumber",
            "+86" + BROKE_NUMBER: "FailedOperation.InsufficientBalanceInSmsPackage",
        }
        code = codes.get(number, "Ok")
        if code == "Ok":
            seen.accepted.append(document)
        status = {"SerialNo": "s-1", "PhoneNumber": number, "Fee": 1, "Code": code, "Message": code, "IsoCode": "CN"}
        return web.json_response({"Response": {"SendStatusSet": [status], "RequestId": "r-1"}})

    app = web.Application()
    app.router.add_post("/", handle)
    return app


# ------------------------------------------------------------------------------------ WeCom / DingTalk work notices
def work_notice(flavour: str, app_id: str, secret: str, seen: Seen) -> web.Application:
    """WeCom gettoken + message/send, or DingTalk gettoken + asyncsend_v2; the first token issued is then revoked."""
    tokens: dict[str, Any] = {"issued": 0, "valid": ""}

    async def token(request: web.Request) -> web.Response:
        id_name, secret_name = ("corpid", "corpsecret") if flavour == "wecom" else ("appkey", "appsecret")
        if request.query.get(id_name) != app_id or request.query.get(secret_name) != secret:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        tokens["issued"] += 1
        tokens["valid"] = f"token-{tokens['issued']}"
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": tokens["valid"], "expires_in": 7200})

    async def send(request: web.Request) -> web.Response:
        if request.query.get("access_token") != tokens["valid"]:
            return web.json_response({"errcode": 42001 if flavour == "wecom" else 88, "errmsg": "token expired"})
        document = await request.json()
        user = document["touser"] if flavour == "wecom" else document["userid_list"]
        if user == "nobody":
            if flavour == "wecom":
                return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": "nobody"})
            return web.json_response({"errcode": 33012, "errmsg": "invalid userid"})
        seen.accepted.append(document)
        if tokens["issued"] == 1:
            tokens["valid"] = "revoked"  # the next send meets an expired token
        return web.json_response({"errcode": 0, "errmsg": "ok", "task_id": 1, "invaliduser": ""})

    app = web.Application()
    if flavour == "wecom":
        app.router.add_get("/cgi-bin/gettoken", token)
        app.router.add_post("/cgi-bin/message/send", send)
    else:
        app.router.add_get("/gettoken", token)
        app.router.add_post("/topapi/message/corpconversation/asyncsend_v2", send)
    return app


# ------------------------------------------------------------------------------------------- on-premises gateway
def sms_gateway(token: str, seen: Seen) -> web.Application:
    """A GSM-modem server: bearer token, JSON body, answers {"result": {"code": 0}}; 1 = busy, 2 = bad number."""

    async def handle(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"error": "unauthorised"}, status=401)
        document = await request.json()
        if document["to"] == SLOW_NUMBER:
            await asyncio.sleep(SLOW_S)
        code = {THROTTLED_NUMBER: 1, INVALID_NUMBER: 2}.get(document["to"], 0)
        if code == 0:
            seen.accepted.append(document)
        return web.json_response({"result": {"code": code}})

    app = web.Application()
    app.router.add_post("/send", handle)
    return app


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Run ``app`` on 127.0.0.1:<free port>; returns the runner (clean it up) and the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"
