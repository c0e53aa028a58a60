import { isIP } from "node:net";
import { StringFormat } from "../gen/qingyu/events/v1/options_pb.js";

// ISO 4217 alphabetic codes of currencies in circulation (fund codes, precious metals and testing
// codes left out: they are not money a reader pays with).
const CURRENCIES = new Set(
  (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD " +
    "CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD " +
    "GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT " +
    "LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR " +
    "NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP " +
    "STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG " +
    "XOF XPF YER ZAR ZMW ZWG"
  ).split(" "),
);

const ENTITY_ID = /^[\x21-\x7e]{1,128}$/;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const DOTTED_NAME = /^[a-z0-9][a-z0-9._:/-]*$/;

function isTraceparent(s: string): boolean {
  const m = TRACEPARENT.exec(s);
  // W3C Trace Context: version ff is invalid, and all-zero trace or parent ids are invalid.
  return m !== null && m[1] !== "ff" && !/^0+$/.test(m[2] ?? "") && !/^0+$/.test(m[3] ?? "");
}

/** A format check: returns what the value must be when it fails, or undefined when it passes. */
export type FormatCheck = (value: string) => string | undefined;

const check = (ok: (s: string) => boolean, what: string): FormatCheck => (s) => (ok(s) ? undefined : what);

/** The checks of each StringFormat. */
export const FORMAT_CHECKS: Readonly<Record<StringFormat, FormatCheck | undefined>> = {
  [StringFormat.UNSPECIFIED]: undefined,
  [StringFormat.ENTITY_ID]: check((s) => ENTITY_ID.test(s), "an id of 1-128 printable ASCII characters without spaces"),
  [StringFormat.UUID_V7]: check((s) => UUID_V7.test(s), "a lower-case UUID of version 7"),
  [StringFormat.CURRENCY]: check((s) => CURRENCIES.has(s), "an ISO 4217 currency code in use"),
  [StringFormat.EMAIL]: check((s) => s.length <= 254 && EMAIL.test(s), "an e-mail address"),
  [StringFormat.IP]: check((s) => isIP(s) !== 0, "an IPv4 or IPv6 address"),
  [StringFormat.TRACEPARENT]: check(isTraceparent, "a W3C traceparent"),
  [StringFormat.DOTTED_NAME]: check((s) => DOTTED_NAME.test(s), "a lower-case dotted name"),
};

/** True when `code` is an ISO 4217 currency code the catalog accepts. */
export function isKnownCurrency(code: string): boolean {
  return CURRENCIES.has(code);
}
