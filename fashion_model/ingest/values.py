"""Catalog values as feeds write them: prices with a currency, dates in several orders,
availability words. Each parser returns the normalised value or raises `ValueError` with the
reason; the feed reader counts and reports what does not parse (nothing turns NULL silently).

The rules, in README order:
- price: a number with a currency code (`15.00 USD`, `EUR 12`) or symbol (`$12.00`, `12,99 €`,
  `£5`) on either side. When both `.` and `,` appear, the last one is the decimal separator
  (`1.234,56` and `1,234.56` are both 1234.56). When only one appears it is the decimal
  separator unless it is followed by exactly three digits (`1,234` and `1.234` are 1234: shop
  prices have at most two decimals), or it repeats (`1,234,567`). Spaces, no-break spaces and
  apostrophes group thousands (`1 234,56`, `1'234.50`). `$` alone is the feed's default
  currency when that is a dollar currency, else USD; `kr` is the default currency when that is
  SEK/NOK/DKK/ISK, else refused as ambiguous. The amount is an exact decimal of at most four
  places (DECIMAL(18,4) from the manifest to the warehouse); a currency column holds a
  three-letter ISO 4217 code.
- date: ISO `2026-11-01` (a time after it is ignored), `2026/11/01`, `01.11.2026` (day first, as
  written with dots), and `01/11/2026` or `01-11-2026`, read day first or month first: a part
  above 12 settles it, else the configured order (`dmy` by default, `mdy` for US feeds) does.
  Two-digit years and impossible dates (`2026-13-45`) are refused.
- availability: in_stock, out_of_stock, preorder, backorder; the older spellings (`in stock`,
  `out of stock`, `pre-order`, `available for order` -> backorder), schema.org URLs
  (`https://schema.org/InStock`) and `sold out` are read too.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

AVAILABILITY = ("in_stock", "out_of_stock", "preorder", "backorder")
_AVAILABILITY_WORDS = {
    "instock": "in_stock",
    "available": "in_stock",
    "limitedavailability": "in_stock",
    "onlineonly": "in_stock",
    "outofstock": "out_of_stock",
    "soldout": "out_of_stock",
    "discontinued": "out_of_stock",
    "unavailable": "out_of_stock",
    "preorder": "preorder",
    "presale": "preorder",
    "backorder": "backorder",
    "availablefororder": "backorder",
}
_SYMBOLS = {
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "zł": "PLN",
    "us$": "USD",
    "a$": "AUD",
    "au$": "AUD",
    "c$": "CAD",
    "ca$": "CAD",
    "nz$": "NZD",
    "hk$": "HKD",
    "s$": "SGD",
    "r$": "BRL",
    "mx$": "MXN",
}
DOLLAR_CURRENCIES = {"USD", "AUD", "CAD", "NZD", "HKD", "SGD", "MXN"}
KRONA_CURRENCIES = {"SEK", "NOK", "DKK", "ISK"}
_PRICE = re.compile(
    r"^(?P<before>[^\d\-+.,]*)(?P<number>[-+]?[\d.,' \u00a0\u202f]*\d)(?P<after>.*)$"
)
_CODE = re.compile(r"^[A-Za-z]{3}$")
# Prices are DECIMAL(PRECISION, SCALE) from the manifest to the warehouse (ingest/manifest.py,
# sql/migrations/010_typed_prices.sql).
PRICE_PRECISION, PRICE_SCALE = 18, 4
_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)


def parse_price(text: str, default_currency: str | None = None) -> tuple[Decimal, str | None]:
    """(amount, ISO currency or None) from a price as feeds write it; the amount is exact, at
    most PRICE_SCALE decimals (a longer fraction is rounded half-even)."""
    value = " ".join(str(text).split())
    match = _PRICE.match(value)
    if not match:
        raise ValueError("no number")
    amount = _amount(match["number"])
    if amount < 0:
        raise ValueError("negative price")
    marks = [m for m in (match["before"].strip(), match["after"].strip()) if m]
    if len(marks) > 1:
        raise ValueError("text on both sides of the number")
    currency = _currency(marks[0], default_currency) if marks else default_currency
    return amount, currency


def _amount(number: str) -> Decimal:
    digits = re.sub(r"[' \u00a0\u202f]", "", number)
    sign = "-" if digits.startswith("-") else ""
    digits = digits.lstrip("+-")
    last_dot, last_comma = digits.rfind("."), digits.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal = "." if last_dot > last_comma else ","
        thousands = "," if decimal == "." else "."
        whole, fraction = digits.rsplit(decimal, 1)
        whole = whole.replace(thousands, "")
    elif last_dot >= 0 or last_comma >= 0:
        separator = "." if last_dot >= 0 else ","
        groups = digits.split(separator)
        if len(groups) > 2 or len(groups[-1]) == 3:  # 1,234,567 / 1.234: thousands
            whole, fraction = "".join(groups), ""
        else:
            whole, fraction = groups
    else:
        whole, fraction = digits, ""
    if not whole.isdigit() or (fraction and not fraction.isdigit()):
        raise ValueError("not a number")
    amount = Decimal(f"{sign}{whole}.{fraction or 0}").quantize(_QUANTUM, ROUND_HALF_EVEN)
    if amount.adjusted() >= PRICE_PRECISION - PRICE_SCALE:
        raise ValueError("too large for a price")
    return amount


def _currency(mark: str, default: str | None) -> str:
    lowered = mark.lower()
    if _CODE.match(mark):
        return mark.upper()
    if lowered in _SYMBOLS:
        return _SYMBOLS[lowered]
    if lowered == "$":
        return default if default in DOLLAR_CURRENCIES else "USD"
    if lowered == "kr":
        if default in KRONA_CURRENCIES:
            return default
        raise ValueError("'kr' is ambiguous (SEK, NOK, DKK): set the feed's currency")
    raise ValueError(f"unknown currency {mark!r}")


_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ].*)?$")
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_SLASHED = re.compile(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{4})$")


def parse_date(text: str, order: str = "dmy") -> date:
    """A date from ISO or the day-first / month-first forms (see the module's rules)."""
    value = str(text).strip()
    if match := _ISO.match(value):
        year, month, day = (int(part) for part in match.groups())
    elif match := _DOTTED.match(value):
        day, month, year = (int(part) for part in match.groups())
    elif match := _SLASHED.match(value):
        first, second, year = (int(part) for part in match.groups())
        if first > 12 or (second <= 12 and order == "dmy"):
            day, month = first, second
        else:
            month, day = first, second
    else:
        raise ValueError("not a date like 2026-11-01, 01.11.2026 or 01/11/2026")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError("no such day") from None


def parse_availability(text: str) -> str:
    """One of AVAILABILITY from the words feeds use."""
    value = str(text).strip().lower().rsplit("/", 1)[-1]
    key = re.sub(r"[\s_\-]", "", value)
    if key not in _AVAILABILITY_WORDS:
        raise ValueError(f"not one of {', '.join(AVAILABILITY)}")
    return _AVAILABILITY_WORDS[key]
