"""Small real media files for metadata tests: a JPEG with EXIF (and GPS unless asked
not to) and an e-mail with Received headers and a Chinese-named attachment."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

DOMAIN = "example.com"


def make_jpeg(path: Path, *, gps: bool = True) -> None:
    from PIL import Image

    im = Image.new("RGB", (64, 48), "red")
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS R5"
    exif[0x0131] = "Firmware 1.0"
    exif[0x0132] = "2024:01:03 09:00:00"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2024:01:02 10:11:12"
    sub[0x9011] = "+08:00"
    if gps:
        exif.get_ifd(0x8825).update(
            {1: "S", 2: (33.0, 51.0, 54.0), 3: "W", 4: (151.0, 12.0, 36.0), 6: 12.5}
        )
    im.save(path, "JPEG", exif=exif)


def make_message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "李雷 <li.lei@example.com>"
    msg["To"] = "Legal <legal@rights-holder.example>, bob@example.org"
    msg["Cc"] = "carol@example.net"
    msg["Subject"] = "侵权样品 / infringing samples"
    msg["Date"] = format_datetime(dt.datetime(2024, 3, 5, 14, 30, 0,
                                              tzinfo=dt.timezone(dt.timedelta(hours=8))))
    msg["Message-ID"] = make_msgid(domain=DOMAIN)
    msg.set_content("Please see the attached price list.\n")
    msg.add_attachment(b"%PDF-1.4 fake price list", maintype="application",
                       subtype="pdf", filename="价格表.pdf")
    raw = msg.as_bytes()
    received = (b"Received: from mx.example.com (mx.example.com [192.0.2.1])\r\n"
                b"\tby mail.rights-holder.example; Tue, 5 Mar 2024 14:30:05 +0800\r\n"
                b"Received: from [10.0.0.2] by mx.example.com; Tue, 5 Mar 2024 14:30:02 +0800\r\n")
    return received + raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
