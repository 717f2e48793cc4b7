import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisiscenter.settings")
application = get_wsgi_application()

# The public hub's bytes, when this process holds them for the current hub state, are served
# before Django builds a request (responses/hub_cache.py): a crisis crowd costs no database work.
from responses.hub_cache import HubFastPath  # noqa: E402  (needs the settings configured above)

application = HubFastPath(application)

# What start-up loaded lives as long as the process: keep it out of the collector's full
# passes, which otherwise walk all of Django every few thousand requests (tail latency).
gc.freeze()
