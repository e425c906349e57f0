// Reads TensorBoard event files back, checking every record's checksums: for tests, and for users inspecting their runs.
using Google.Protobuf;
using GraphCompiler.IO.TensorBoard.Protos;

namespace GraphCompiler.IO.TensorBoard;

/// <summary>An Event read from an event file, with the byte offset of its record.</summary>
public readonly record struct EventRecord(long Offset, Event Event);

/// <summary>
/// Reads the events of a TensorBoard event file. Both CRCs of every record are verified; a mismatch, a record cut short
/// or an unparseable Event throws <see cref="InvalidDataException"/> naming the file and the record's byte offset.
/// </summary>
public static class EventFileReader
{
    /// <summary>Every Event in the file at <paramref name="path"/>, in order, with its offset.</summary>
    public static IEnumerable<EventRecord> ReadRecords(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1 << 16);
        foreach (TfRecord record in TfRecordFormat.Read(stream, path))
        {
            Event parsed;
            try
            {
                parsed = Event.Parser.ParseFrom(record.Data);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new InvalidDataException($"{path}: record at byte offset {record.Offset} is not an Event: {e.Message}", e);
            }
            yield return new EventRecord(record.Offset, parsed);
        }
    }

    /// <summary>Every Event in the file at <paramref name="path"/>, read eagerly.</summary>
    public static IReadOnlyList<Event> ReadEvents(string path) => ReadRecords(path).Select(r => r.Event).ToList();

    /// <summary>The event files directly in <paramref name="logDir"/>, oldest name first (names start with the creation time).</summary>
    public static IReadOnlyList<string> EventFiles(string logDir) =>
        Directory.GetFiles(logDir, "events.out.tfevents.*").Order(StringComparer.Ordinal).ToList();
}
