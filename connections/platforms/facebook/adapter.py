"""Facebook Pages through the Graph API.

https://developers.facebook.com/docs/pages-api/posts and .../photos. The page access token
goes in the ``access_token`` form or query field, as facebook-sdk sends it. Facebook fetches
image URLs itself, so we send URLs, not bytes (after checking them: see base.media_url_problem).
"""

from __future__ import annotations

import json
from datetime import datetime

import requests

from connections.platforms.base import Account, Draft, Published, parse_time
from connections.platforms.facebook import DECLARATION
from connections.platforms.http import HttpAdapter
from connections.platforms.meta.graph import GraphErrorMixin


class FacebookAdapter(GraphErrorMixin, HttpAdapter):
    declaration = DECLARATION
    # https://developers.facebook.com/docs/graph-api/reference/page/feed: message length.
    max_text_length = 63_206
    # Facebook documents no maximum for attached_media; ten is our own cap, Instagram's too.
    max_images = 10
    # Facebook comments: 8,000 characters (unverified).
    max_comment_length = 8_000

    def publish(self, account: Account, draft: Draft) -> Published:
        """Text: one feed post. One image: one published photo with the text as caption. Several:
        each uploaded unpublished, then one feed post attaching them all."""
        self.refuse_invalid(draft)
        if not draft.media_urls:
            response = self.post(account, "feed", {"message": draft.text})
            return self.published(response, self.json(response).get("id"))
        if len(draft.media_urls) == 1 and not draft.state.get("mediaIds"):
            response = self.post(account, "photos", {"url": draft.media_urls[0], "caption": draft.text})
            # -> {"id": "<photo_id>", "post_id": "<page_id>_<post_id>"}: the post is what people see.
            body = self.json(response)
            if body.get("id"):
                draft.state["mediaIds"] = [str(body["id"])]
            return self.published(response, body.get("post_id") or body.get("id"))

        media_ids = self.upload_unpublished_photos(account, draft)
        # attached_media[i] is a JSON object per item, form-encoded, as in Facebook's own example:
        # curl -F 'attached_media[0]={"media_fbid":"1002088839996"}'
        fields = {"message": draft.text}
        fields.update(
            {f"attached_media[{i}]": json.dumps({"media_fbid": media_id}) for i, media_id in enumerate(media_ids)}
        )
        response = self.post(account, "feed", fields)
        return self.published(response, self.json(response).get("id"))

    def stage(self, account: Account, draft: Draft) -> None:
        """Upload the photos unpublished; ``publish`` then attaches them to one feed post."""
        self.refuse_invalid(draft)
        if draft.media_urls:
            self.upload_unpublished_photos(account, draft)

    def upload_unpublished_photos(self, account: Account, draft: Draft) -> list[str]:
        """Upload each image with ``published=false`` and keep its id in state["mediaIds"], one by
        one, so that a retry after a failure half-way re-uploads none of those already there."""
        media_ids = [str(media_id) for media_id in draft.state.get("mediaIds", [])][: len(draft.media_urls)]
        for url in draft.media_urls[len(media_ids) :]:
            response = self.post(account, "photos", {"url": url, "published": "false"})
            media_id = self.json(response).get("id")
            if not media_id:
                raise self.malformed(response, f"no photo id for {url}")
            media_ids.append(str(media_id))
            draft.state["mediaIds"] = list(media_ids)
        return media_ids

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        params = {
            "fields": "id,message,created_time",
            "since": int(since.timestamp()),
            "limit": 100,
        }
        for posts in self.graph_pages(account, f"/{account.account_id}/feed", params):
            for post in posts:
                if not isinstance(post, dict) or post.get("message") != draft.text or not post.get("id"):
                    continue
                # ``since`` filters on the platform's side already; a stated time is checked again.
                created = parse_time(post.get("created_time"))
                if created is None or created >= since:
                    return str(post["id"])
        return None

    def post(self, account: Account, edge: str, fields: dict) -> requests.Response:
        return self.request("POST", f"/{account.account_id}/{edge}", account=account, data=fields)

    def published(self, response: requests.Response, external_id: object) -> Published:
        if not external_id:
            raise self.malformed(response, "no post id")
        slow_down_until, usage = self.slow_down(response)
        return Published(
            external_id=str(external_id),
            url=f"https://www.facebook.com/{external_id}",
            metadata={"usage": usage} if usage else {},
            slow_down_until=slow_down_until,
        )
