import asyncio, sys
from wsmachine import AcceptConnection, CloseConnection, ConnectionType, Message, Ping, Request, WSConnection

async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    ws = WSConnection(ConnectionType.SERVER)
    while not ws.should_close_transport and (data := await reader.read(65536)):
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, Request):
                writer.write(ws.send(AcceptConnection()))
            elif isinstance(event, Message):  # echo each chunk as it arrives
                writer.write(ws.send(event))
            elif isinstance(event, (Ping, CloseConnection)):
                writer.write(ws.send(event.response()))
        await writer.drain()  # backpressure
    writer.close()

async def main(port: int) -> None:
    server = await asyncio.start_server(echo, "127.0.0.1", port)
    await server.serve_forever()

if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8765))
