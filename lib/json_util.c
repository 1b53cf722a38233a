#include "json_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int json_parse(const char *data, size_t len, json_object **out, char *err,
	       size_t errlen)
{
	*out = NULL;
	if (len > (size_t)INT32_MAX) {
		snprintf(err, errlen, "document too large");
		return -EFBIG;
	}
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_object *o = json_tokener_parse_ex(tok, data, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || je != json_tokener_success) {
		snprintf(err, errlen, "invalid JSON: %s",
			 je == json_tokener_continue
				 ? "unexpected end of document"
				 : json_tokener_error_desc(je));
		json_object_put(o);
		return -EINVAL;
	}
	for (size_t i = used; i < len; i++) {
		char c = data[i];
		if (c != ' ' && c != '\n' && c != '\r' && c != '\t' && c != 0) {
			snprintf(err, errlen,
				 "invalid JSON: trailing data after the "
				 "document");
			json_object_put(o);
			return -EINVAL;
		}
	}
	*out = o;
	return 0;
}

/* O's member KEY if it has that type, else NULL (O may be NULL). */
static json_object *member(json_object *o, const char *key,
			   json_type type)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	return v;
}

const char *jstr(json_object *o, const char *key)
{
	json_object *v = member(o, key, json_type_string);
	return v ? json_object_get_string(v) : NULL;
}

json_object *jarr(json_object *o, const char *key)
{
	return member(o, key, json_type_array);
}

json_object *jobj(json_object *o, const char *key)
{
	return member(o, key, json_type_object);
}

bool jint(json_object *o, const char *key, int64_t *out)
{
	json_object *v = member(o, key, json_type_int);
	if (!v)
		return false;
	errno = 0;
	*out = json_object_get_int64(v);
	return errno == 0;
}

bool juint(json_object *o, const char *key, uint64_t *out)
{
	json_object *v = member(o, key, json_type_int);
	if (!v)
		return false;
	*out = json_object_get_uint64(v);
	return true;
}

char *json_text(json_object *o, size_t *len)
{
	const char *s = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *out = malloc(n + 2);
	if (!out)
		return NULL;
	memcpy(out, s, n);
	out[n] = '\n';
	out[n + 1] = 0;
	if (len)
		*len = n + 1;
	return out;
}
