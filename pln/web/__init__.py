"""`pln serve`: the topic feeds, an index page, pages built from the database and feedback,
as a WSGI app (`app.FeedApp`) under waitress (`server.FeedServer`); `cli` is the command."""
