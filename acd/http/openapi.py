"""The OpenAPI document, generated from the route table and the pydantic bodies."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

import acd
from acd.http.plumbing import PREFIX, Route

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error_id", "message", "details"],
    "properties": {
        "error_id": {"type": "string"},
        "message": {"type": "string"},
        "details": {},
    },
}


def build_openapi(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for route in routes:
        path = PREFIX + route.path
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "maxLength": 64},
            }
            for name in re.findall(r"{(\w+)}", path)
        ]
        if route.query is not None:
            query = _schema(route.query)
            params += [
                {
                    "name": name,
                    "in": "query",
                    "required": name in query.get("required", ()),
                    "schema": prop,
                }
                for name, prop in query["properties"].items()
            ]
        error = {
            "description": "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": _operation_id(route.method, route.path),
            "parameters": params,
            "responses": {
                "200": {
                    "description": "ok",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "4XX": error,
            },
        }
        if not route.public:
            op["security"] = [{"bearer": []}]
        if route.body is not None:
            schemas[route.body.__name__] = _schema(route.body)
            fields = route.body.model_fields.values()
            op["requestBody"] = {
                # A body whose every field has a default may be left out.
                "required": any(f.is_required() for f in fields),
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}
                    }
                },
            }
        paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "acd call-centre API", "version": acd.__version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation_id(method: str, path: str) -> str:
    return f"{method.lower()}_{re.sub(r'[^a-z]+', '_', path.lower()).strip('_')}"


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    return schema


ROUTES_KEY = web.AppKey("routes", list[Route])


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_openapi(request.app[ROUTES_KEY]))


openapi.acd_public = True  # type: ignore[attr-defined]
