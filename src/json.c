/*
 * src/json.c
 *	  JSON helpers: numbers written as JSON, for every jsonb mixrec builds as
 *	  text (model descriptions, training metrics, training state
 *	  descriptions, the PyTorch interchange form), and JSON values named in
 *	  error messages.
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "mixrec.h"
#include "utils/jsonb.h"

/*
 * Append a finite double as the shortest JSON number that reads back exactly
 */
void
AppendJsonDouble(StringInfo buf, double value)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(value, digits);
	appendStringInfoString(buf, digits);
}

/*
 * Append a double as JSON, NaN or an infinity as null
 */
void
AppendNullableDouble(StringInfo buf, double value)
{
	if (isfinite(value))
		AppendJsonDouble(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/*
 * What a JSON value is, for error messages: "a string", "a number", ...
 */
const char *
JsonValueKind(const JsonbValue *value)
{
	switch (value->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(value->val.binary.data) ? "an array" : "an object";
		default:
			return "a value of another type";
	}
}
