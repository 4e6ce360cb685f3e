import asyncio

import dualweb.web


class MainHandler(dualweb.web.RequestHandler):
    def get(self):
        self.write("Hello, world")


def make_app():
    return dualweb.web.Application([(r"/", MainHandler)])


async def main():
    app = make_app()
    app.listen(8888)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
