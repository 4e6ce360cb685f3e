from app import make_app

from dualweb.wsgi import WSGIAdapter

wsgi = WSGIAdapter(make_app())
