"""Every page of the dashboard, in one router the app includes."""

from __future__ import annotations

from fastapi import APIRouter

from surveyrouter.web.admin import (
    activity,
    apps,
    auth,
    callbacks,
    networks,
    opportunities,
    traffic,
    users,
)

router = APIRouter(include_in_schema=False)
for module in (auth, networks, apps, traffic, callbacks, users, opportunities, activity):
    router.include_router(module.router)
