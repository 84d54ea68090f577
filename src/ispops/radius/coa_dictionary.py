"""The RADIUS dictionary the CoA sender encodes with (pyrad format).

Only what a CoA-Request or Disconnect-Request of ours can carry: the session identification attributes
(RFC 5176 section 3), Message-Authenticator, Error-Cause, and the reply attributes provisioning renders
into radreply (RFC 2865/2869/3162 here, and every vendor's attributes from ``vendors.VENDORS``).
A radreply attribute missing here is not sent, and the attempt's ``detail`` says so.
"""

from __future__ import annotations

import io
from functools import cache

from pyrad.dictionary import Dictionary

from ispops.radius import vendors

TEXT = """\
ATTRIBUTE	User-Name	1	string
ATTRIBUTE	NAS-IP-Address	4	ipaddr
ATTRIBUTE	NAS-Port	5	integer
ATTRIBUTE	Service-Type	6	integer
ATTRIBUTE	Framed-Protocol	7	integer
ATTRIBUTE	Framed-IP-Address	8	ipaddr
ATTRIBUTE	Framed-IP-Netmask	9	ipaddr
ATTRIBUTE	Filter-Id	11	string
ATTRIBUTE	Framed-MTU	12	integer
ATTRIBUTE	Reply-Message	18	string
ATTRIBUTE	Framed-Route	22	string
ATTRIBUTE	Class	25	octets
ATTRIBUTE	Session-Timeout	27	integer
ATTRIBUTE	Idle-Timeout	28	integer
ATTRIBUTE	Called-Station-Id	30	string
ATTRIBUTE	Calling-Station-Id	31	string
ATTRIBUTE	NAS-Identifier	32	string
ATTRIBUTE	Proxy-State	33	octets
ATTRIBUTE	Acct-Session-Id	44	string
ATTRIBUTE	Event-Timestamp	55	date
ATTRIBUTE	NAS-Port-Type	61	integer
ATTRIBUTE	Message-Authenticator	80	octets
ATTRIBUTE	Acct-Interim-Interval	85	integer
ATTRIBUTE	NAS-Port-Id	87	string
ATTRIBUTE	Framed-Pool	88	string
ATTRIBUTE	Framed-IPv6-Prefix	97	ipv6prefix
ATTRIBUTE	Framed-IPv6-Pool	100	string
ATTRIBUTE	Error-Cause	101	integer
ATTRIBUTE	Delegated-IPv6-Prefix	123	ipv6prefix
"""

# RFC 5176 section 3.5, for the attempt's ``detail``.
ERROR_CAUSES: dict[int, str] = {
    201: "Residual-Session-Context-Removed",
    202: "Invalid-EAP-Packet",
    401: "Unsupported-Attribute",
    402: "Missing-Attribute",
    403: "NAS-Identification-Mismatch",
    404: "Invalid-Request",
    405: "Unsupported-Service",
    406: "Unsupported-Extension",
    407: "Invalid-Attribute-Value",
    501: "Administratively-Prohibited",
    502: "Request-Not-Routable",
    503: "Session-Context-Not-Found",
    504: "Session-Context-Not-Removable",
    505: "Other-Proxy-Processing-Error",
    506: "Resources-Unavailable",
    507: "Request-Initiated",
    508: "Multiple-Session-Selection-Unsupported",
}


@cache
def dictionary() -> Dictionary:
    return Dictionary(io.StringIO(TEXT + "\n" + vendors.dictionary_text()))
