"""The archive's feeds and sitemap: RSS 2.0 and Atom with each issue's full content and
absolute URLs. Human-readable parts are Swedish; the machine dates stay in their formats
(RFC 822 in RSS's pubDate, ISO 8601 in Atom)."""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from pipeline.config import Config


def sitemap(urls: list[str]) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            + "".join(f"  <url><loc>{escape(u)}</loc></url>\n" for u in urls) + "</urlset>\n")


def _absolute(content: str, item_url: str) -> str:
    return re.sub(r'(src|href)="(?!https?:|mailto:|#)([^"]*)"',
                  lambda m: f'{m.group(1)}="{item_url}{m.group(2)}"', content)


def rss(config: Config, issues: list[dict[str, Any]], base: str) -> str:
    items = []
    for item in issues:
        url = base + item["path"]
        when = datetime.fromisoformat(item["date"]).replace(hour=9, tzinfo=config.zone)
        items.append(
            f"    <item>\n      <title>{escape(item['title'])}</title>\n"
            f"      <link>{escape(url)}</link>\n"
            f'      <guid isPermaLink="true">{escape(url)}</guid>\n'
            f"      <pubDate>{format_datetime(when)}</pubDate>\n"
            f"      <description>{escape(item['summary'])}</description>\n"
            f"      <content:encoded><![CDATA[{_absolute(item['content'], url)}]]>"
            "</content:encoded>\n    </item>\n")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:atom="http://www.w3.org/2005/Atom">\n  <channel>\n'
            f"    <title>{escape(config.name)}</title>\n    <link>{escape(base)}</link>\n"
            f'    <atom:link href="{escape(base)}feed.xml" rel="self" '
            'type="application/rss+xml"/>\n'
            f"    <description>Nyhetsbrevet {escape(config.name)} från "
            f"{escape(config.sender.name)}</description>\n    <language>sv-se</language>\n"
            + "".join(items) + "  </channel>\n</rss>\n")


def atom(config: Config, issues: list[dict[str, Any]], base: str) -> str:
    entries = []
    updated = "1970-01-01T00:00:00Z"
    for item in issues:
        url = base + item["path"]
        when = datetime.fromisoformat(item["date"]).replace(hour=9, tzinfo=config.zone)
        stamp = when.isoformat()
        updated = max(updated, item.get("published_at", stamp))
        entries.append(
            f"  <entry>\n    <title>{escape(item['title'])}</title>\n"
            f'    <link rel="alternate" href="{escape(url)}"/>\n    <id>{escape(url)}</id>\n'
            f"    <published>{stamp}</published>\n    <updated>{stamp}</updated>\n"
            f"    <summary>{escape(item['summary'])}</summary>\n"
            f'    <content type="html">{escape(_absolute(item["content"], url))}</content>\n'
            "  </entry>\n")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="sv">\n'
            f"  <title>{escape(config.name)}</title>\n  <id>{escape(base)}</id>\n"
            f'  <link rel="self" href="{escape(base)}atom.xml"/>\n'
            f'  <link rel="alternate" href="{escape(base)}"/>\n  <updated>{updated}</updated>\n'
            f"  <author><name>{escape(config.sender.name)}</name></author>\n"
            + "".join(entries) + "</feed>\n")
