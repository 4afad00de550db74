using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpSeek.Tokenizer.Chat;

/// <summary>
/// JSON text exactly as Python's json.dumps(value, ensure_ascii=False) writes it: ", " and ": " separators, keys in
/// insertion order, non-ASCII kept, control characters escaped, floats in Python's repr. The encoder embeds tool
/// schemas and argument values this way, so the prompt text must match it byte for byte.
/// </summary>
public static class PythonJson
{
    public static string Dumps(JsonNode? node)
    {
        var sb = new StringBuilder();
        Write(node, sb);
        return sb.ToString();
    }

    private static void Write(JsonNode? node, StringBuilder sb)
    {
        switch (node)
        {
            case null: sb.Append("null"); break;
            case JsonObject o:
                sb.Append('{');
                bool first = true;
                foreach (var (k, v) in o)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    WriteString(k, sb);
                    sb.Append(": ");
                    Write(v, sb);
                }
                sb.Append('}');
                break;
            case JsonArray a:
                sb.Append('[');
                for (int i = 0; i < a.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    Write(a[i], sb);
                }
                sb.Append(']');
                break;
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String: WriteString(v.GetValue<string>(), sb); break;
                    case JsonValueKind.True: sb.Append("true"); break;
                    case JsonValueKind.False: sb.Append("false"); break;
                    case JsonValueKind.Null: sb.Append("null"); break;
                    case JsonValueKind.Number: sb.Append(Number(v.ToJsonString())); break;
                    default: throw new FormatException($"unsupported JSON value {v.GetValueKind()}");
                }
                break;
        }
    }

    /// <summary>Python keeps integers as they are and prints floats with repr().</summary>
    public static string Number(string raw)
    {
        if (raw.IndexOfAny(['.', 'e', 'E']) < 0)
            return System.Numerics.BigInteger.Parse(raw, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture);
        return FloatRepr(double.Parse(raw, CultureInfo.InvariantCulture));
    }

    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "NaN";
        if (double.IsInfinity(d)) return d > 0 ? "Infinity" : "-Infinity";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        // Python's repr: shortest round-trip digits, fixed notation for decimal exponents -4..15, else d.ddde±XX.
        string shortest = d.ToString("R", CultureInfo.InvariantCulture);
        bool neg = d < 0;
        string s = shortest.TrimStart('-');
        int exp;
        string digits;
        int ePos = s.IndexOfAny(['E', 'e']);
        string mant = ePos >= 0 ? s[..ePos] : s;
        int e10 = ePos >= 0 ? int.Parse(s[(ePos + 1)..], CultureInfo.InvariantCulture) : 0;
        int dot = mant.IndexOf('.');
        string intPart = dot >= 0 ? mant[..dot] : mant, frac = dot >= 0 ? mant[(dot + 1)..] : "";
        digits = (intPart + frac).TrimStart('0');
        int leadingZeros = (intPart + frac).Length - (intPart + frac).TrimStart('0').Length;
        exp = intPart.Length - leadingZeros - 1 + e10; // position of the first significant digit
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        var sb = new StringBuilder();
        if (neg) sb.Append('-');
        if (exp >= -4 && exp < 16)
        {
            if (exp >= 0)
            {
                string ip = digits.Length > exp + 1 ? digits[..(exp + 1)] : digits.PadRight(exp + 1, '0');
                string fp = digits.Length > exp + 1 ? digits[(exp + 1)..] : "0";
                sb.Append(ip).Append('.').Append(fp);
            }
            else sb.Append("0.").Append(new string('0', -exp - 1)).Append(digits);
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(exp < 0 ? '-' : '+').Append(Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    public static void WriteString(string s, StringBuilder sb)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
