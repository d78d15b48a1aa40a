"""TOTP codes from an otpauth:// URI with pyotp, an implementation independent of baton's.

Usage: totp.py URI UNIX_TIME... -> prints one JSON object: the URI as pyotp reads it (issuer,
name, digits, interval, algorithm) and the code at each given time.
"""

import json
import sys

import pyotp


def main() -> None:
    uri, times = sys.argv[1], [int(t) for t in sys.argv[2:]]
    otp = pyotp.parse_uri(uri)
    if not isinstance(otp, pyotp.TOTP):
        raise SystemExit("not a TOTP URI")
    print(
        json.dumps(
            {
                "issuer": otp.issuer,
                "name": otp.name,
                "digits": otp.digits,
                "interval": otp.interval,
                "algorithm": otp.digest().name,
                "codes": [otp.at(t) for t in times],
            }
        )
    )


if __name__ == "__main__":
    main()
