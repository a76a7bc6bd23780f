/*
 * src/json.c
 *	  Numbers written as JSON, for every jsonb mixrec builds as text
 *	  (model descriptions, training metrics, training state descriptions,
 *	  the PyTorch interchange form).
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "mixrec.h"

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
