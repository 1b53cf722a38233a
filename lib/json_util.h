/*
 * Small conveniences over json-c for the JSON layertool and layerrun read:
 * parsing with a readable error, and typed member lookups that return
 * NULL when a member is missing or has another type.
 */
#ifndef LT_JSON_UTIL_H
#define LT_JSON_UTIL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses LEN bytes of DATA as one JSON document.  -EINVAL and a reason in
 * err when it is not valid JSON or has trailing garbage. */
int json_parse(const char *data, size_t len, json_object **out, char *err,
	       size_t errlen);

const char *jstr(json_object *o, const char *key);
json_object *jarr(json_object *o, const char *key);
json_object *jobj(json_object *o, const char *key);
/* An integer member; false when missing or not an integer. */
bool jint(json_object *o, const char *key, int64_t *out);
/* The same for a value up to 2^64 - 1 (seccomp argument values). */
bool juint(json_object *o, const char *key, uint64_t *out);

/* Pretty text of o with a trailing newline, malloc'd. */
char *json_text(json_object *o, size_t *len);

#endif
