"""How the Wildberries emulator renders its store: statistics rows (Moscow time, rubles),
assembly tasks (kopecks), statuses, cards, and the error bodies of each API family."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from easyflow.sandbox.commerce_store import (
    ASSEMBLING,
    CANCELLED,
    DELIVERED,
    NEW,
    SHIPPED,
    OrderBook,
    ProductBook,
    mix,
)

MOSCOW = timezone(timedelta(hours=3))
TASK_BASE = 5_000_000
NM_BASE = 100_000_000
CHRT_BASE = 200_000_000
WAREHOUSE = 658434
STATUS = {  # stage -> (supplierStatus, wbStatus)
    NEW: ("new", "waiting"),
    ASSEMBLING: ("confirm", "waiting"),
    SHIPPED: ("complete", "sorted"),
    DELIVERED: ("complete", "sold"),
    CANCELLED: ("cancel", "canceled"),
}


def moscow(t: float) -> str:
    return datetime.fromtimestamp(int(t), MOSCOW).replace(tzinfo=None).isoformat()


def parse_moscow(text: str) -> float:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=MOSCOW)
    return value.timestamp()


def utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def srid(book: OrderBook, i: int) -> str:
    return f"{i}.r{mix(i, book.seed + 7):08x}.3.0"


def order_uid(book: OrderBook, i: int) -> str:
    return f"{165918930 + i}_{mix(i, book.seed + 9):032x}"


# A statistics row's fixed fields, in their wire order: the row's dict and its text form
# (`statistics_rows_json`) both take them from here.
_PLACE_FIELDS: dict[str, Any] = {
    "warehouseName": "Подольск",
    "warehouseType": "Склад продавца",
    "countryName": "Россия",
    "oblastOkrugName": "Центральный федеральный округ",
    "regionName": "Московская",
}
_GOODS_FIELDS: dict[str, Any] = {
    "category": "Одежда",
    "subject": "Футболки",
    "brand": "Acme",
    "techSize": "M",
    "incomeID": 0,
    "isSupply": False,
    "isRealization": True,
}


def statistics_row(book: OrderBook, i: int) -> dict[str, Any]:
    p = book.product(i)
    rubles = book.price_kopecks(i) // 100
    cancelled = book.stage(i) == CANCELLED
    return {
        "date": moscow(book.created_at(i)),
        "lastChangeDate": moscow(book.changed_at(i)),
        **_PLACE_FIELDS,
        "supplierArticle": f"art-{p}",
        "nmId": NM_BASE + p,
        "barcode": f"46{p:011d}",
        **_GOODS_FIELDS,
        "totalPrice": rubles,
        "discountPercent": 0,
        "spp": 0,
        "finishedPrice": rubles,
        "priceWithDisc": rubles,
        "isCancel": cancelled,
        "cancelDate": moscow(book.changed_at(i)) if cancelled else "0001-01-01T00:00:00",
        "sticker": str(900_000_000 + i),
        "gNumber": f"{34343462218572569531 + i}",
        "srid": srid(book, i),
    }


def _fragment(fields: dict[str, Any]) -> str:
    """`fields` as they sit inside a compact JSON object, with the comma that follows them."""
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))[1:-1] + ","


_PLACE = _fragment(_PLACE_FIELDS)
_GOODS = _fragment(_GOODS_FIELDS)
_NO_CANCEL = "0001-01-01T00:00:00"


def _moscow_fast(t: float) -> str:
    """`moscow(t)`, without building a datetime (the same text: Moscow is UTC+3, no DST)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t) + 3 * 3600))


def statistics_rows_json(book: OrderBook, indices: Iterable[int]) -> bytes:
    """`dumps([statistics_row(book, i) for i in indices])`, byte for byte."""
    return b"".join(statistics_rows_chunks(book, indices))


def statistics_rows_chunks(
    book: OrderBook, indices: Iterable[int], rows_per_chunk: int = 2_000
) -> Iterator[bytes]:
    """`statistics_rows_json` in pieces of `rows_per_chunk` rows, built as they are sent (a
    page of 80 000 rows is tens of MB: the client reads the first rows while the rest are
    built), written as text directly: building and encoding a dict per row was most of the
    emulator's time (it shares the CPUs with the hub it serves in benchmarks).
    tests/sync/test_adapters.py holds the renderings equal."""
    parts: list[str] = []
    goods: dict[int, str] = {}
    opening = "["
    for i in indices:
        p = book.product(i)
        product = goods.get(p)
        if product is None:
            product = goods[p] = (
                f'"supplierArticle":"art-{p}","nmId":{NM_BASE + p},"barcode":"46{p:011d}",' + _GOODS
            )
        rubles = book.price_kopecks(i) // 100
        changed = _moscow_fast(book.changed_at(i))
        cancelled = book.stage(i) == CANCELLED
        parts.append(
            f'{{"date":"{_moscow_fast(book.created_at(i))}","lastChangeDate":"{changed}",'
            f"{_PLACE}{product}"
            f'"totalPrice":{rubles},"discountPercent":0,"spp":0,"finishedPrice":{rubles},'
            f'"priceWithDisc":{rubles},"isCancel":{"true" if cancelled else "false"},'
            f'"cancelDate":"{changed if cancelled else _NO_CANCEL}",'
            f'"sticker":"{900_000_000 + i}","gNumber":"{34343462218572569531 + i}",'
            f'"srid":"{srid(book, i)}"}}'
        )
        if len(parts) >= rows_per_chunk:
            yield (opening + ",".join(parts)).encode()
            parts, opening = [], ","
    if parts or opening == "[":
        yield (opening + ",".join(parts) + "]").encode()
    else:
        yield b"]"  # the rows ended with a full chunk


def task(book: OrderBook, i: int) -> dict[str, Any]:
    p = book.product(i)
    price = book.price_kopecks(i)
    return {
        "id": TASK_BASE + i,
        "orderUid": order_uid(book, i),
        "rid": srid(book, i),
        "article": f"art-{p}",
        "nmId": NM_BASE + p,
        "chrtId": CHRT_BASE + p,
        "skus": [f"46{p:011d}"],
        "createdAt": utc(book.created_at(i)).replace(".000Z", "Z"),
        "warehouseId": WAREHOUSE,
        "officeId": 123,
        "offices": ["Калуга"],
        "price": price,
        "salePrice": price,
        "finalPrice": price,
        "convertedPrice": price,
        "convertedFinalPrice": price,
        "currencyCode": 643,
        "convertedCurrencyCode": 643,
        "cargoType": 1,
        "deliveryType": "fbs",
        "isZeroOrder": False,
        "comment": "",
        "address": None,
        "options": {"isB2b": False},
        "scanPrice": None,
        "colorCode": "",
        "supplyId": None,
    }


def card(products: ProductBook, j: int) -> dict[str, Any]:
    return {
        "nmID": NM_BASE + j,
        "imtID": 99_000_000 + j,
        "nmUUID": f"01bda0b1-5c0b-736c-b2be-{j:012d}",
        "subjectID": 105,
        "subjectName": "Футболки",
        "vendorCode": f"art-{j}",
        "brand": "Acme",
        "title": f"Футболка {j}",
        "description": "",
        "needKiz": False,
        "photos": [],
        "dimensions": {
            "length": 30,
            "width": 20,
            "height": 3,
            "weightBrutto": 0.25,
            "isValid": True,
        },
        "characteristics": [],
        "sizes": [
            {"chrtID": CHRT_BASE + j, "techSize": "M", "wbSize": "48", "skus": [f"46{j:011d}"]}
        ],
        "tags": [],
        "createdAt": utc(products.t0),
        "updatedAt": utc(products.updated_at(j)),
    }


def gateway_error(status: int, title: str, detail: str) -> dict[str, Any]:
    return {
        "title": title,
        "detail": detail,
        "code": "07e4668e-ac2242c5c8c5-[UK-4dx7JUdskGZ]",
        "requestId": "9d3c02cc698f8b041c661a7c28bed293",
        "origin": "s2s-api-auth-catalog",
        "status": status,
        "statusText": title.title(),
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def family_error(family: str, status: int, message: str, code: str = "IncorrectParameter") -> Any:
    if family == "content":
        return {"data": None, "error": True, "errorText": message, "additionalErrors": None}
    if family == "statistics":
        return {"errors": [message]}
    return {"code": code, "message": message, "data": None}
